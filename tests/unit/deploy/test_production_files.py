"""The production descriptions agree with the code: every CITYOPS_* variable they set is a
setting of cityops/settings.py with a value it accepts; topics and partitions are those of
topics_admin.py and the engine's Faust tables; the Kafka users have exactly the ACLs of
deploy/kafka-acls.sh; KEDA never scales workers beyond the partitions; probes and health checks ask
the real paths on the real ports; the ClickHouse cluster is the one cityops is told about."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from cityops.clickhouse_target import ClickHouseTarget
from cityops.schemas.taxonomy import DEPARTMENTS
from cityops.settings import Settings
from cityops.topics_admin import all_topics
from tests.unit.deploy.manifests import (
    COMPOSE,
    ROOT,
    acl_rules_of_script,
    acl_rules_of_users,
    by_kind,
    cityops_containers,
    compose_document,
    container_env,
    env_file,
    healthcheck_url,
    k8s_documents,
    setting_names,
    topics_file,
    unknown_settings,
)

DOCS = k8s_documents()
CONFIG_MAPS = {d["metadata"]["name"]: d for d in by_kind(DOCS, "ConfigMap")}
COMPOSE_DOC = compose_document()
COMPOSE_ENV = env_file(COMPOSE / "cityops.env")


def compose_cityops_services() -> dict[str, dict]:
    return {
        name: service
        for name, service in COMPOSE_DOC["services"].items()
        if "cityops" in service.get("image", "")
    }


def settings_from(env: dict[str, str | None], monkeypatch, tmp_path) -> Settings:
    """Settings as a process with exactly `env` would read them (values must parse)."""
    for name in list(os.environ):
        if name.startswith("CITYOPS_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        if value is not None and name not in {"CITYOPS_CLICKHOUSE_CLUSTER"}:
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no stray cityops.env
    return Settings()


@pytest.fixture(scope="module")
def engine_topics(tmp_path_factory) -> dict[str, int]:
    """{topic: partitions} of the engine's Faust app: its tables' changelogs and the assignor's
    leader topic (derived from the app streams/app.py builds, not from a list)."""
    from cityops.streams.app import create_app

    settings = Settings(home=tmp_path_factory.mktemp("home"), partitions=12)
    app, _runtime, _bridge = create_app(settings)
    topics = {t.changelog_topic.get_topic_name(): 12 for t in app.tables.values()}
    leader = app._leader_assignor._leader_topic
    topics[leader.get_topic_name()] = leader.partitions
    return topics


# -- environment -------------------------------------------------------------------------------


def test_the_setting_names_come_from_the_code():
    names = setting_names()
    assert {"CITYOPS_KAFKA_BOOTSTRAP", "CITYOPS_PARTITIONS", "CITYOPS_BIND_HOST"} <= names
    assert unknown_settings({"CITYOPS_KAFKA_BOOTSTRAPS", "CITYOPS_PARTITIONS"}) == {
        "CITYOPS_KAFKA_BOOTSTRAPS"
    }


def test_every_compose_variable_is_a_real_setting_with_a_value_it_accepts(monkeypatch, tmp_path):
    services = compose_cityops_services()
    assert {"worker", "gateway", "dashboard", "migrate"} <= set(services)
    for name, service in services.items():
        assert service["env_file"] == ["cityops.env"], name
        env = {**COMPOSE_ENV, **service.get("environment", {})}
        assert unknown_settings(set(env)) == set(), name
        settings_from(env, monkeypatch, tmp_path)


def test_secret_files_the_entrypoint_maps_are_real_settings():
    mapped = {
        "CITYOPS_" + name.removeprefix("cityops_").upper()
        for name in COMPOSE_DOC["secrets"]
        if name.startswith("cityops_")
    }
    assert mapped, "at least the session key comes from a file"
    assert unknown_settings(mapped) == set()


def test_every_kubernetes_variable_is_a_real_setting_with_a_value_it_accepts(monkeypatch, tmp_path):
    containers = list(cityops_containers(DOCS))
    assert len(containers) >= 5
    for workload, container in containers:
        env = container_env(container, CONFIG_MAPS)
        label = f"{workload['metadata']['name']}/{container['name']}"
        assert unknown_settings(set(env)) == set(), label
        settings_from(env, monkeypatch, tmp_path)


def test_a_misspelt_variable_is_caught():
    assert unknown_settings({"CITYOPS_KAFKA_PASWORD_FILE"}) == {"CITYOPS_KAFKA_PASWORD_FILE"}


@pytest.mark.parametrize("env", [COMPOSE_ENV, CONFIG_MAPS["cityops-env"]["data"]])
def test_production_connections_are_secure(env, monkeypatch, tmp_path):
    settings = settings_from(env, monkeypatch, tmp_path)
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert settings.kafka_password is None and settings.kafka_password_file is not None
    # (settings.clickhouse would read the password file, which exists only in the container)
    assert ClickHouseTarget.from_url(settings.clickhouse_url).secure
    assert settings.clickhouse_password_file is not None
    assert settings.bind_host == "0.0.0.0"
    assert env["CITYOPS_CLICKHOUSE_CLUSTER"] == "cityops"


# -- topics ------------------------------------------------------------------------------------


def expected_topics(env, engine_topics, monkeypatch, tmp_path) -> dict[str, int]:
    settings = settings_from(env, monkeypatch, tmp_path)
    expected = {name: settings.partitions for name in all_topics(settings)}
    return {
        **expected,
        **{n: (p if p == 1 else settings.partitions) for n, p in engine_topics.items()},
    }


def test_compose_topics_are_the_codes_topics_with_its_partitions(
    engine_topics, monkeypatch, tmp_path
):
    expected = expected_topics(COMPOSE_ENV, engine_topics, monkeypatch, tmp_path)
    described = topics_file(COMPOSE / "kafka" / "topics")
    assert {n: t["partitions"] for n, t in described.items()} == expected
    assert {t["replicas"] for t in described.values()} == {3}
    for name in engine_topics:
        if name.endswith("-changelog"):
            assert described[name]["config"]["cleanup.policy"] == "compact"


def test_kafka_topic_resources_are_the_codes_topics_with_its_partitions(
    engine_topics, monkeypatch, tmp_path
):
    expected = expected_topics(
        CONFIG_MAPS["cityops-env"]["data"], engine_topics, monkeypatch, tmp_path
    )
    topics = by_kind(DOCS, "KafkaTopic")
    assert {t["spec"]["topicName"]: t["spec"]["partitions"] for t in topics} == expected
    assert {t["spec"]["replicas"] for t in topics} == {3}
    compose = topics_file(COMPOSE / "kafka" / "topics")
    for topic in topics:  # same retention and compaction on both
        assert {k: str(v) for k, v in topic["spec"].get("config", {}).items()} == compose[
            topic["spec"]["topicName"]
        ]["config"]


def test_a_missing_topic_or_wrong_partition_count_is_caught(engine_topics, monkeypatch, tmp_path):
    expected = expected_topics(COMPOSE_ENV, engine_topics, monkeypatch, tmp_path)
    described = {n: t["partitions"] for n, t in topics_file(COMPOSE / "kafka" / "topics").items()}
    assert {**described, "city.events": 8} != expected
    assert {k: v for k, v in described.items() if k != "city.tasks.water"} != expected


def test_the_compose_department_list_is_the_registrys():
    listed = (COMPOSE / "kafka" / "departments").read_text().split()
    assert listed == list(DEPARTMENTS)


# -- ACLs --------------------------------------------------------------------------------------


def test_kafka_users_have_exactly_the_acls_of_the_acl_script():
    out = subprocess.run(
        ["bash", str(ROOT / "deploy" / "kafka-acls.sh"), "--dry-run"],
        env={**os.environ, "BOOTSTRAP": "b:9093", "ADMIN_CONFIG": "a", "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    script = acl_rules_of_script(out)
    # Kubernetes names cannot hold `_`: the principal of department urban_mgmt is urban-mgmt.
    script = {(p.replace("_", "-"), *rest) for p, *rest in script}
    users = [u for u in by_kind(DOCS, "KafkaUser") if u["metadata"]["name"] != "keda-cityops"]
    assert acl_rules_of_users(users) == script
    assert {p for p, *_ in script} == {"platform", *(d.replace("_", "-") for d in DEPARTMENTS)}


def test_the_lag_reader_may_only_describe():
    (keda,) = [u for u in by_kind(DOCS, "KafkaUser") if u["metadata"]["name"] == "keda-cityops"]
    assert {rule[-1] for rule in acl_rules_of_users([keda])} == {"Describe"}


# -- scaling -------------------------------------------------------------------------------------


def test_keda_never_scales_workers_beyond_the_partitions():
    partitions = {
        t["spec"]["topicName"]: t["spec"]["partitions"] for t in by_kind(DOCS, "KafkaTopic")
    }
    (scaled,) = by_kind(DOCS, "ScaledObject")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert scaled["spec"]["maxReplicaCount"] <= partitions[meta["topic"]]
    assert meta.get("allowIdleConsumers", "false") == "false"
    # the group the intake bridge consumes city.events with (streams/bridge_process.py)
    source = (ROOT / "streams" / "bridge_process.py").read_text()
    assert 'group=f"{settings.topic_prefix}' + meta["consumerGroup"] + '"' in source
    assert meta["topic"] == "city.events"
    target = scaled["spec"]["scaleTargetRef"]["name"]
    assert target in {d["metadata"]["name"] for d in by_kind(DOCS, "Deployment")}


def test_compose_starts_no_more_workers_than_partitions():
    replicas = COMPOSE_DOC["services"]["worker"]["deploy"]["replicas"]
    default = int(str(replicas).split(":-")[-1].rstrip("}"))
    assert default <= int(COMPOSE_ENV["CITYOPS_PARTITIONS"])


# -- probes --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served_paths(tmp_path_factory) -> dict[str, set[str]]:
    """The paths each service really answers: the gateway's and dashboard's Flask rules; the
    worker's probe server, asked over HTTP."""
    from cityops.dashboard.app import create_app as dashboard_app
    from cityops.streams.probe_server import ProbeServer
    from cityops.streams.publish.gateway.app import create_app as gateway_app

    settings = Settings(
        home=tmp_path_factory.mktemp("home"),
        kafka_bootstrap="127.0.0.1:1",
        clickhouse_url="clickhouse://u:p@127.0.0.1:1/cityops",
    )
    rules = {
        "gateway": {r.rule for r in gateway_app(settings).url_map.iter_rules()},
        "dashboard": {r.rule for r in dashboard_app(settings).server.url_map.iter_rules()},
    }
    server = ProbeServer(0, registry=None, healthz=dict, readyz=lambda: (200, {}))
    assert server.start()
    try:
        worker = set()
        for path in ("/healthz", "/readyz", "/nothing"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5)
                worker.add(path)
            except OSError:
                pass
        rules["worker"] = worker
    finally:
        server.stop()
    return rules


def expected_port(component: str, env: dict) -> int:
    settings = Settings(
        **{
            k.removeprefix("CITYOPS_").lower(): v
            for k, v in env.items()
            if k.endswith(("_PORT",)) and v is not None
        }
    )
    return {
        "worker": settings.worker_http_port,
        "gateway": settings.gateway_port,
        "dashboard": settings.dashboard_port,
    }[component]


def test_kubernetes_probes_ask_the_real_paths_on_the_real_ports(served_paths):
    checked = 0
    for workload, container in cityops_containers(DOCS):
        component = workload["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        if component not in served_paths or "livenessProbe" not in container:
            continue
        env = container_env(container, CONFIG_MAPS)
        port = expected_port(component, env)
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            if kind in container:
                probe = container[kind]["httpGet"]
                assert probe["port"] == port, (component, kind)
                assert probe["path"] in served_paths[component], (component, probe)
        checked += 1
    assert checked == 3


def test_compose_health_checks_ask_the_real_paths_on_the_real_ports(served_paths):
    for component in ("worker", "gateway", "dashboard"):
        service = COMPOSE_DOC["services"][component]
        env = {**COMPOSE_ENV, **service.get("environment", {})}
        url = healthcheck_url(service["healthcheck"]["test"])
        assert url == f"http://127.0.0.1:{expected_port(component, env)}/readyz", component
        assert "/readyz" in served_paths[component]


def test_a_probe_on_a_wrong_path_is_caught(served_paths):
    assert "/ready" not in served_paths["worker"]
    assert "/health" not in served_paths["gateway"]


# -- ClickHouse ----------------------------------------------------------------------------------


def test_the_compose_clickhouse_cluster_is_2_shards_of_2_replicas_with_3_keepers():
    root = ET.parse(COMPOSE / "clickhouse" / "config.d" / "cluster.xml").getroot()
    cluster = root.find(f"remote_servers/{COMPOSE_ENV['CITYOPS_CLICKHOUSE_CLUSTER']}")
    assert cluster is not None
    shards = [[r.findtext("host") for r in s.findall("replica")] for s in cluster.findall("shard")]
    assert [len(s) for s in shards] == [2, 2]
    assert len(root.findall("zookeeper/node")) == 3
    for number, hosts in enumerate(shards, start=1):
        for host in hosts:
            macros = ET.parse(COMPOSE / "clickhouse" / "macros" / f"{host}.xml").getroot()
            assert macros.findtext("macros/shard") == str(number)
            assert macros.findtext("macros/replica") == host
            assert host in COMPOSE_DOC["services"]
    keepers = ET.parse(COMPOSE / "keeper" / "keeper.xml").getroot()
    hosts = [
        s.findtext("hostname") for s in keepers.findall("keeper_server/raft_configuration/server")
    ]
    assert sorted(hosts) == ["keeper-1", "keeper-2", "keeper-3"]
    assert set(hosts) <= set(COMPOSE_DOC["services"])


def test_the_clickhouse_installation_is_the_cluster_cityops_is_told_about():
    (chi,) = by_kind(DOCS, "ClickHouseInstallation")
    (cluster,) = chi["spec"]["configuration"]["clusters"]
    assert cluster["name"] == CONFIG_MAPS["cityops-env"]["data"]["CITYOPS_CLICKHOUSE_CLUSTER"]
    assert cluster["layout"] == {"shardsCount": 2, "replicasCount": 2}
    (chk,) = by_kind(DOCS, "ClickHouseKeeperInstallation")
    assert chk["spec"]["configuration"]["clusters"][0]["layout"]["replicasCount"] == 3
    node = chi["spec"]["configuration"]["zookeeper"]["nodes"][0]["host"]
    assert node == f"keeper-{chk['metadata']['name']}"


# -- the proxy -----------------------------------------------------------------------------------


def test_the_compose_proxy_does_not_publish_metrics_or_readiness():
    conf = (COMPOSE / "proxy" / "nginx.conf").read_text()
    for path in ("/metrics", "/readyz"):
        assert f"location = {path} {{ return 404; }}" in conf
    assert "server dashboard:8050;" in conf and "server gateway:8060;" in conf


def test_the_ingress_does_not_publish_metrics_or_readiness():
    (ingress,) = by_kind(DOCS, "Ingress")
    paths = {
        p["path"]: p["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    services = {s["metadata"]["name"]: s for s in by_kind(DOCS, "Service")}
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in by_kind(DOCS, "Deployment")]
    for path in ("/metrics", "/readyz"):
        selector = services[paths[path]]["spec"]["selector"]
        assert not any(selector.items() <= labels.items() for labels in pod_labels), path
    assert paths["/api/"] == paths["/open311/"] == "cityops-gateway"
    assert paths["/"] == "cityops-dashboard"


# -- migrations ----------------------------------------------------------------------------------


def test_both_descriptions_run_the_same_migration_command_and_it_exists():
    compose = COMPOSE_DOC["services"]["migrate"]["command"]
    (job,) = by_kind(DOCS, "Job")
    kubernetes = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert compose == kubernetes == ["cityops", "migrate"]
    from cityops.deploy.cli import build_parser

    assert build_parser().parse_args(compose[1:]).command == "migrate"
