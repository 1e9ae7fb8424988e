"""Every production description parses and is valid for what reads it: compose.yaml against the
compose specification's JSON schema, built-in Kubernetes kinds against Kubernetes' own schemas
(strict: unknown fields refused), Strimzi, Altinity and KEDA resources against their operators'
CRD schemas (vendored in tests/deploy_schemas/, unknown fields refused as `kubectl
--validate=strict` does). And each check catches a deliberately wrong document."""

from __future__ import annotations

import copy
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest
import yaml

from tests.unit.deploy.manifests import (
    COMPOSE,
    K8S,
    ROOT,
    by_kind,
    compose_document,
    compose_problems,
    core_problems,
    crd_problems,
    images,
    k8s_documents,
    k8s_manifests,
    unpinned,
    valid_k8s_name,
    yaml_files,
)

# The operators' kinds the manifests use: each must have its CRD schema vendored.
CUSTOM_KINDS = {
    "Kafka",
    "KafkaNodePool",
    "KafkaTopic",
    "KafkaUser",
    "ClickHouseInstallation",
    "ClickHouseKeeperInstallation",
    "ScaledObject",
    "TriggerAuthentication",
}


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_parses(path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{path} holds no document"
    assert all(isinstance(d, dict) for d in docs)


def test_compose_file_follows_the_compose_specification():
    assert compose_problems(compose_document()) == []


def test_a_misspelt_compose_key_is_caught():
    doc = compose_document()
    doc["services"]["worker"]["healthchek"] = doc["services"]["worker"].pop("healthcheck")
    assert any("healthchek" in p for p in compose_problems(doc))


def test_the_kustomization_lists_every_manifest():
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == [str(p.relative_to(K8S)) for p in k8s_manifests()]


@pytest.mark.parametrize(
    "doc",
    k8s_documents(),
    ids=lambda d: f"{d['kind']}/{d['metadata']['name']}",
)
def test_every_kubernetes_object_is_valid(doc):
    problems = crd_problems(doc)
    if problems is None:
        assert doc["kind"] not in CUSTOM_KINDS, f"no CRD schema vendored for {doc['kind']}"
        problems = core_problems(doc)
    assert problems == []
    assert valid_k8s_name(doc["metadata"]["name"]), doc["metadata"]["name"]
    assert doc["metadata"].get("namespace", "cityops") == "cityops"


def _first(kind: str, docs=None) -> dict:
    return copy.deepcopy(by_kind(docs or k8s_documents(), kind)[0])


@pytest.mark.parametrize(
    ("kind", "spoil", "expected"),
    [
        ("ScaledObject", lambda d: d["spec"].update(maxReplicaCont=3), "maxReplicaCont"),
        ("KafkaTopic", lambda d: d["spec"].update(partitons=3), "partitons"),
        ("KafkaUser", lambda d: d["spec"]["authentication"].update(type="plain"), "plain"),
        (
            "ClickHouseInstallation",
            lambda d: d["spec"]["configuration"]["clusters"][0]["layout"].update(shardsCont=2),
            "shardsCont",
        ),
        (
            "ClickHouseKeeperInstallation",
            lambda d: d["spec"].update(configuraton={}),
            "configuraton",
        ),
        ("Kafka", lambda d: d["spec"]["kafka"]["listeners"][0].update(type="internl"), "internl"),
        (
            "Deployment",
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(readinesProbe={}),
            "readinesProbe",
        ),
        ("PodDisruptionBudget", lambda d: d["spec"].update(maxUnavailable=[1]), "maxUnavailable"),
    ],
)
def test_a_wrong_field_is_caught(kind, spoil, expected):
    doc = _first(kind)
    spoil(doc)
    problems = crd_problems(doc)
    if problems is None:
        problems = core_problems(doc)
    assert any(expected in p for p in problems), problems


def test_every_image_is_pinned_to_an_exact_version_or_digest():
    found = [*images(compose_document()), *images(k8s_documents())]
    assert len(found) >= 8
    assert [i for i in found if unpinned(i)] == []


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("apache/kafka:4.3.1", True),
        ("clickhouse/clickhouse-server:24.3.5.46", True),
        ("python:3.11.11-slim-bookworm", True),
        ("nginx@sha256:" + "a" * 64, True),
        ("nginx:latest", False),
        ("nginx", False),
        ("clickhouse/clickhouse-server:24.8", False),
        ("registry.example/cityops:main", False),
        ("${CITYOPS_IMAGE:-registry.example/cityops:0.1.0}", True),
        ("${CITYOPS_IMAGE}", False),
    ],
)
def test_what_counts_as_pinned(image, pinned):
    assert unpinned(image) is not pinned


def test_the_dockerfile_is_multi_stage_pinned_and_runs_as_a_non_root_user():
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    assert len(bases) >= 2, "multi-stage build"
    assert [b for b in bases if unpinned(b)] == []
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    # the entrypoint the image copies exists and every compose secret it maps is a file of ours
    assert (ROOT / "deploy" / "entrypoint.sh").exists()
    assert (COMPOSE / "make-secrets.sh").exists()


@pytest.mark.parametrize(
    "path", sorted(COMPOSE.rglob("*.xml")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_clickhouse_config_file_is_xml_with_a_clickhouse_root(path):
    assert ET.parse(path).getroot().tag == "clickhouse"


@pytest.mark.parametrize(
    ("path", "shell"),
    [
        (ROOT / "deploy" / "entrypoint.sh", "sh"),
        (COMPOSE / "make-secrets.sh", "bash"),
        (COMPOSE / "kafka" / "setup.sh", "bash"),
        (ROOT / "deploy" / "kafka-acls.sh", "bash"),
    ],
    ids=lambda v: v.name if hasattr(v, "name") else v,
)
def test_every_script_parses(path, shell):
    result = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_entrypoint_turns_secret_files_into_settings(tmp_path):
    # the same loop as deploy/entrypoint.sh, pointed at a folder of ours instead of /run/secrets
    script = (ROOT / "deploy" / "entrypoint.sh").read_text().replace("/run/secrets", str(tmp_path))
    (tmp_path / "cityops_secret_key").write_text("s3cret\n")
    (tmp_path / "ca.pem").write_text("not a setting")
    entry = tmp_path / "entrypoint.sh"
    entry.write_text(script)
    out = subprocess.run(
        ["sh", str(entry), "sh", "-c", "env | grep ^CITYOPS_ | sort"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout
    assert out == "CITYOPS_SECRET_KEY=s3cret\n"
