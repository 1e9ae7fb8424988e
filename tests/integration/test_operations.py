"""Health, readiness and metrics endpoints of the real services (docs/operations.md): the gateway
and the dashboard under gunicorn, and a worker process with its bridge child, against the real
broker and a ClickHouse server this test stops and starts."""

from __future__ import annotations

import json
import os
import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from cityops.deploy import services as svc
from cityops.schemas.topics import Topics
from cityops.storage.client import connect, migrate
from tests.e2e.conftest import start_dashboard, stop_dashboard
from tests.integration.test_engine import a_report, make_stack
from tests.integration.test_gateway import BATCH, an_event, start_gateway, stop_gateway
from tests.integration.test_launcher import cityops, stack_env  # noqa: F401 - fixture
from tests.waiting import wait_until


def samples(url: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a /metrics answer."""
    answer = requests.get(f"{url}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(url: str, name: str, **labels) -> float:
    return samples(url).get((name, tuple(sorted(labels.items()))), 0.0)


def readyz(url: str) -> tuple[int, dict]:
    answer = requests.get(f"{url}/readyz", timeout=10)
    return answer.status_code, answer.json()


def wait_ready(url: str, status: int, failing: list[str], timeout: float = 30) -> dict:
    def check():
        code, body = readyz(url)
        return body if code == status and body["failing"] == failing else None

    return wait_until(check, timeout, f"{url}/readyz to answer {status} failing {failing}")


@pytest.fixture
def private_stack(isolated, private_clickhouse, tmp_path, artifacts_dir):
    """Gateway and dashboard on the shared broker and a ClickHouse server of this test."""
    database = f"o_{uuid.uuid4().hex[:10]}"
    target = private_clickhouse.target.with_database(database)
    client = connect(target, database=False)
    migrate(client, database)
    client.disconnect()
    env = {**isolated.env, "CITYOPS_CLICKHOUSE_URL": target.url(), "CITYOPS_DATABASE": database}
    gateway = start_gateway(env, isolated.settings.home, tmp_path / "gateway.log")
    try:
        dash = start_dashboard(env, isolated.settings.home, artifacts_dir, "operations")
    except BaseException:
        stop_gateway(gateway)
        raise
    yield gateway, dash
    stop_dashboard(dash)
    stop_gateway(gateway)


def test_gateway_and_dashboard_readiness_follows_clickhouse(private_stack, private_clickhouse):
    gateway, dash = private_stack
    for url in (gateway.url, dash.url):
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
        body = wait_ready(url, 200, [])
        assert body["status"] == "ready"
        assert body["checks"]["broker"]["ok"] and body["checks"]["clickhouse"]["ok"]

    private_clickhouse.stop()
    for url in (gateway.url, dash.url):
        body = wait_ready(url, 503, ["clickhouse"])
        assert body["status"] == "unready"
        assert body["checks"]["broker"]["ok"] is True
        assert body["checks"]["clickhouse"]["ok"] is False
        assert body["checks"]["clickhouse"]["detail"]
        # liveness does not depend on ClickHouse
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200

    private_clickhouse.start()
    for url in (gateway.url, dash.url):
        wait_ready(url, 200, [])


def test_gateway_counts_requests_by_status(private_stack):
    gateway, _ = private_stack
    route = "/api/v1/events"
    before = {s: value(gateway.url, "cityops_gateway_requests_total", method="POST",
                       route=route, status=s) for s in ("202", "401")}  # fmt: skip
    key = gateway.key("water")
    for n in range(3):
        assert gateway.post(key, an_event(f"ops-{uuid.uuid4().hex[:8]}-{n}")).status_code == 202
    assert gateway.post(None, an_event("ops-anonymous")).status_code == 401
    assert gateway.post("not-a-key", [an_event("ops-bad-key")], BATCH).status_code == 401
    after = samples(gateway.url)

    def count(status: str) -> float:
        labels = (("method", "POST"), ("route", route), ("status", status))
        return after.get(("cityops_gateway_requests_total", labels), 0.0)

    assert count("202") - before["202"] == 3
    assert count("401") - before["401"] == 2
    durations = [k for k in after if k[0] == "cityops_gateway_request_duration_seconds_count"]
    assert durations


def test_dashboard_metrics_count_requests_and_open_incidents(private_stack):
    _, dash = private_stack
    requests.get(f"{dash.url}/healthz", timeout=5)
    requests.get(f"{dash.url}/incidents", timeout=5, allow_redirects=False)  # not signed in
    got = samples(dash.url)
    statuses = {
        dict(labels)["status"]
        for (name, labels) in got
        if name == "cityops_dashboard_requests_total"
    }
    assert {"200", "302"} <= statuses
    assert got[("cityops_incidents_open", ())] == 0


def test_gateway_metrics_of_several_worker_processes_are_summed(isolated, tmp_path):
    gateway = start_gateway(
        isolated.env, isolated.settings.home, tmp_path / "gateway.log", gateway_workers=3
    )
    try:
        for _ in range(30):  # connections without keep-alive spread over the processes
            assert requests.get(f"{gateway.url}/healthz", timeout=5).status_code == 200
        total = value(
            gateway.url, "cityops_gateway_requests_total", method="GET", route="/healthz",
            status="200",
        )  # fmt: skip
        # start_gateway's own /healthz polls count too: at least our 30, from any process
        assert total >= 30
        files = list((isolated.settings.home / "run" / "prometheus-gateway").glob("*.db"))
        assert len(files) >= 2, files  # each process writes its own file
    finally:
        stop_gateway(gateway)


def test_worker_endpoints_answer_and_counters_move(request, services, tmp_path):
    stack = make_stack(request, services.bootstrap, services.clickhouse, tmp_path)
    port = svc.free_port()
    url = f"http://127.0.0.1:{port}"
    stack.worker = svc.start_worker(
        stack.settings, stack.log, {"CITYOPS_WORKER_HTTP_PORT": str(port)}
    )
    try:
        health = stack.wait(
            "the worker's /healthz",
            lambda: requests.get(f"{url}/healthz", timeout=2).json(),
        )
        assert health["status"] == "ok" and health["service"] == "worker"
        stack.wait("the worker's /readyz to answer 200", lambda: readyz(url)[0] == 200)

        reports = [a_report("waterlogging", 2) for _ in range(5)]
        stack.send(*reports, (b"bad", b"{not json"))
        stack.wait(
            "5 events stored and 1 rejected, counted on /metrics",
            lambda: (
                value(url, "cityops_worker_events_stored_total") >= 5
                and value(url, "cityops_worker_events_rejected_total") >= 1
            ),
        )
        got = samples(url)
        assert got[("cityops_worker_events_in_total", ())] >= 6
        assert got[("cityops_worker_rows_stored_total", (("table", "events"),))] >= 5
        assert got[("cityops_worker_rows_stored_total", (("table", "rejected_events"),))] >= 1
        assert got[("cityops_worker_commit_duration_seconds_count", ())] >= 1
        lag_partitions = {
            dict(labels)["partition"]
            for (name, labels) in got
            if name == "cityops_consumer_lag_messages"
            and dict(labels)["topic"] == Topics(stack.settings.topic_prefix).events
        }
        assert lag_partitions == {"0", "1", "2", "3"}
        # the memory breakdown: the engine's tables are open, its heap is in use
        assert got[("cityops_worker_rocksdb_bytes", (("kind", "block_cache"),))] > 0
        assert got[("cityops_worker_rocksdb_bytes", (("kind", "memtables"),))] > 0
        assert got[("cityops_worker_heap_bytes", (("kind", "in_use"),))] > 2**20
        assert got[("cityops_worker_python_blocks", ())] > 100_000
        code, body = readyz(url)
        assert code == 200 and body["failing"] == []
        assert set(body["checks"]) == {"broker", "clickhouse", "lag", "engine"}
    finally:
        stack.stop()
        stack.ch.disconnect()
    # the worker and its bridge child wrote JSON lines naming their service
    services_seen = set()
    for line in stack.log.read_text().splitlines():
        if line.startswith("{"):
            services_seen.add(json.loads(line)["service"])
    assert {"worker", "bridge"} <= services_seen


def logpipes_of(home) -> list[int]:
    """Pids of log pipes writing under `home`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if b"cityops.deploy.logpipe" in argv and any(str(home).encode() in a for a in argv):
            found.append(int(entry))
    return found


def test_launched_stack_lists_health_urls_and_logs_json_lines(stack_env):  # noqa: F811
    started = cityops(stack_env, "up", "--detach", "--no-dashboard")
    assert started.returncode == 0, started.stderr
    home = stack_env["CITYOPS_HOME"]
    status = json.loads(cityops(stack_env, "status", "--json").stdout)
    health = status["health"]
    assert set(health) == {"worker-1", "gateway"}
    assert health["worker-1"] == f"http://127.0.0.1:{stack_env['CITYOPS_WORKER_HTTP_PORT']}"
    for url in health.values():
        wait_until(
            lambda url=url: readyz(url)[0] == 200,
            60,
            f"{url}/readyz to answer 200",
            ignoring=(requests.RequestException,),
        )
        assert "cityops_" in requests.get(f"{url}/metrics", timeout=5).text
    assert logpipes_of(home), "each service writes through a log pipe"

    def services_in(name: str) -> set[str]:
        with open(os.path.join(home, "logs", f"{name}.log")) as log:
            return {json.loads(line)["service"] for line in log if line.startswith("{")}

    wait_until(
        lambda: {"worker", "bridge"} <= services_in("worker-1"),
        30,
        "JSON lines of the worker and its bridge in worker-1.log",
    )
    wait_until(lambda: "gateway" in services_in("gateway"), 10, "JSON lines in gateway.log")

    assert cityops(stack_env, "down").returncode == 0
    wait_until(lambda: not logpipes_of(home), 10, "the log pipes to end with their services")


def test_gateway_readiness_names_a_stopped_broker(isolated, tmp_path):
    port = svc.free_port()
    broker = svc.start_broker(tmp_path / "private", port)
    env = {**isolated.env, "CITYOPS_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"}
    gateway = None
    try:
        gateway = start_gateway(env, isolated.settings.home, tmp_path / "gateway.log")
        wait_ready(gateway.url, 200, [])
        svc.stop(broker)
        body = wait_ready(gateway.url, 503, ["broker"])
        assert body["checks"]["broker"]["ms"] < 5000  # bounded by the check's timeout
        assert body["checks"]["clickhouse"]["ok"] is True
    finally:
        if gateway is not None:
            stop_gateway(gateway)
        svc.stop(broker)


def test_worker_counts_clickhouse_insert_errors_and_is_unready_without_it(
    services, private_clickhouse, tmp_path
):
    stack = make_stack(None, services.bootstrap, private_clickhouse.target, tmp_path)
    port = svc.free_port()
    url = f"http://127.0.0.1:{port}"
    stack.worker = svc.start_worker(
        stack.settings, stack.log, {"CITYOPS_WORKER_HTTP_PORT": str(port)}
    )
    try:
        stack.wait("the worker's /readyz to answer 200", lambda: readyz(url)[0] == 200)
        stack.send(a_report("waterlogging", 2))
        stack.wait(
            "the first event stored",
            lambda: value(url, "cityops_worker_events_stored_total") >= 1,
            timeout=90,
        )
        private_clickhouse.stop()
        stack.ch.disconnect()
        stack.send(*[a_report("waterlogging", 2) for _ in range(3)])
        stack.wait(
            "a failed insert counted and /readyz naming ClickHouse",
            lambda: (
                sum(
                    v
                    for (name, _), v in samples(url).items()
                    if name == "cityops_clickhouse_insert_errors_total"
                )
                >= 1
                and "clickhouse" in readyz(url)[1]["failing"]
            ),
        )
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200  # still alive
        private_clickhouse.start()
        stack.wait(
            "all 4 events stored and /readyz 200 again",
            lambda: value(url, "cityops_worker_events_stored_total") >= 4 and readyz(url)[0] == 200,
            timeout=90,
        )
    finally:
        stack.stop()
        stack.ch.disconnect()
