"""`cityops up` heals itself (CONTRACT §10): a SIGKILLed service of a detached stack is restarted
and events published afterwards are stored; a crash-looping service is given up with its log."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import orjson
import pytest
import requests

from cityops.deploy import services as svc
from cityops.deploy.stack import Stack, status
from cityops.deploy.supervision import RestartPolicy
from cityops.deploy.supervisor import Supervisor
from cityops.sdk import Publisher, report
from cityops.settings import Settings
from cityops.streams.publish.keys import create_key
from cityops.topics_admin import all_topics
from tests.integration.test_gateway import an_event
from tests.waiting import wait_until


def cityops(env, *args, timeout=240):
    return subprocess.run(
        [sys.executable, "-m", "cityops.deploy.cli", *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """One detached embedded stack (broker, ClickHouse, a worker, gateway) on free ports."""
    home = tmp_path_factory.mktemp("supervised") / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env.update(
        {
            "CITYOPS_HOME": str(home),
            "CITYOPS_BROKER_PORT": str(svc.free_port()),
            "CITYOPS_CLICKHOUSE_PORT": str(svc.free_port()),
            "CITYOPS_CLICKHOUSE_HTTP_PORT": str(svc.free_port()),
            "CITYOPS_GATEWAY_PORT": str(svc.free_port()),
            "CITYOPS_DASHBOARD_PORT": str(svc.free_port()),
            "CITYOPS_PARTITIONS": "2",
        }
    )
    started = cityops(env, "up", "--detach", "--no-dashboard")
    try:
        assert started.returncode == 0, started.stderr
        yield env, home
    finally:
        cityops(env, "down")
        leftover = [p for p in _pids(home) if svc.pid_alive(p)]
        assert leftover == []


def _pids(home) -> list[int]:
    try:
        return [p["pid"] for p in json.loads((home / "stack.json").read_text())["processes"]]
    except (OSError, ValueError):
        return []


def _pid(home, name: str) -> int:
    state = json.loads((home / "stack.json").read_text())
    return next(p["pid"] for p in state["processes"] if p["name"] == name)


def _restarted(home, name: str, old_pid: int) -> bool:
    return status(home)["services"].get(name) == "up" and _pid(home, name) != old_pid


def _settings(env, home) -> Settings:
    return Settings(
        home=home,
        kafka_bootstrap=f"127.0.0.1:{env['CITYOPS_BROKER_PORT']}",
        clickhouse_url=f"clickhouse://default@127.0.0.1:{env['CITYOPS_CLICKHOUSE_PORT']}/cityops",
        partitions=2,
    )


def _event(event_id: str) -> dict:
    return report(
        id=event_id,
        category="waterlogging",
        severity=2,
        title="沙洲街道积水",
        location={"district": "320105", "street": "320105002"},
        channel="sensor",
    )


def _stored(env, ids: set[str]) -> set[str]:
    from clickhouse_driver import Client

    client = Client(host="127.0.0.1", port=int(env["CITYOPS_CLICKHOUSE_PORT"]))
    try:
        rows = client.execute(
            "SELECT DISTINCT id FROM cityops.events WHERE id IN %(ids)s", {"ids": tuple(ids)}
        )
    finally:
        client.disconnect()
    return {row[0] for row in rows}


def _count(env, table: str) -> int:
    from clickhouse_driver import Client

    client = Client(host="127.0.0.1", port=int(env["CITYOPS_CLICKHOUSE_PORT"]))
    try:
        return client.execute(f"SELECT count() FROM cityops.{table}")[0][0]
    finally:
        client.disconnect()


def _post_retrying(env, key: str, event_id: str, deadline: float) -> list[int]:
    """POST one event to the gateway until it answers 202, honouring Retry-After."""
    url = f"http://127.0.0.1:{env['CITYOPS_GATEWAY_PORT']}/api/v1/events"
    body = orjson.dumps(an_event(event_id))
    answers: list[int] = []
    while time.monotonic() < deadline:
        answer = requests.post(url, data=body, timeout=30, headers={
            "Content-Type": "application/cloudevents+json", "Authorization": f"Bearer {key}",
        })  # fmt: skip
        answers.append(answer.status_code)
        if answer.status_code == 202:
            return answers
        if answer.status_code != 503:
            return answers
        assert int(answer.headers["Retry-After"]) >= 1
        time.sleep(0.5)
    return answers


def _publish_retrying(publisher: Publisher, event_id: str, deadline: float) -> float:
    """Send one event until the broker acknowledges it, always with the same id and the same
    (long-lived) publisher; returns the time of the acknowledgement."""
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            publisher.publish(_event(event_id), wait=True)
            return time.monotonic()
        except Exception as exc:  # noqa: BLE001 - the broker away: try again, same id
            last = exc
            time.sleep(0.5)
    raise AssertionError(f"{event_id} was never acknowledged: {last!r}")


def test_a_killed_worker_is_restarted_and_events_after_are_stored(stack):
    env, home = stack
    old = _pid(home, "worker-1")
    os.killpg(old, signal.SIGKILL)
    seen = set()

    def back_up():
        state = status(home)
        seen.add(state["services"]["worker-1"])
        return state["services"]["worker-1"] == "up" and _pid(home, "worker-1") != old

    wait_until(back_up, 30, "worker-1 restarted")
    assert "restarting" in seen
    assert status(home)["restarts"]["worker-1"] == 1
    settings = _settings(env, home)
    ids = {f"after-worker-kill-{n}" for n in range(20)}
    with Publisher(settings, "water") as publisher:
        for event_id in sorted(ids):
            publisher.publish(_event(event_id))
    wait_until(lambda: _stored(env, ids) == ids, 90, "the events sent after the restart stored",
               details=lambda: f"stored {len(_stored(env, ids))} of {len(ids)}")  # fmt: skip


def test_a_killed_broker_is_back_with_its_topics_and_later_events_are_stored(stack):
    env, home = stack
    settings = _settings(env, home)
    # An open incident before the fault: the restarted worker must rebuild it from ClickHouse.
    # One publisher for the whole test, as an application keeps one: the restarted broker does
    # not know its producer id any more.
    publisher = Publisher(settings, "water")
    publisher.publish(_event("before-broker-kill"), wait=True)
    wait_until(lambda: _count(env, "incidents") > 0, 60, "an incident stored before the kill")
    gateway_key = create_key(home, "water")[0]
    worker_log = home / "logs" / "worker-1.log"
    log_start = worker_log.stat().st_size
    old_broker, old_worker = _pid(home, "broker"), _pid(home, "worker-1")
    killed = time.monotonic()
    os.killpg(old_broker, signal.SIGKILL)
    # A publisher keeps sending through the outage, each event until acknowledged (same id).
    ids, deadline = [], killed + 60
    for n in range(30):
        ids.append(f"through-broker-kill-{n}")
        _publish_retrying(publisher, ids[-1], deadline)
    publisher.close()
    # And through the gateway: while the broker is away 503 + Retry-After, never an error.
    ids.append("through-broker-kill-gateway")
    answers = _post_retrying(env, gateway_key, ids[-1], killed + 60)
    assert answers[-1] == 202 and set(answers) <= {202, 503}, answers
    wait_until(lambda: _restarted(home, "broker", old_broker), 60, "the broker restarted")
    assert time.monotonic() - killed < 60
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        assert set(all_topics(settings)) <= set(admin.list_topics())
    finally:
        admin.close()
    wait_until(lambda: _restarted(home, "worker-1", old_worker), 60, "the worker restarted")
    # Every event was sent after the kill: each acknowledgement came from the restarted broker.
    wanted = set(ids)
    wait_until(lambda: _stored(env, wanted) == wanted, 90, "every acknowledged event stored",
               details=lambda: f"missing {sorted(wanted - _stored(env, wanted))[:5]}")  # fmt: skip
    assert status(home)["restarts"]["broker"] == 1
    with open(worker_log, "rb") as fh:
        fh.seek(log_start)
        after = fh.read().decode(errors="replace")
    assert "ConsistencyError" not in after
    assert re.search(r"restored [1-9]\d* incidents from ClickHouse", after), after[-2000:]


@pytest.mark.parametrize("name", ["clickhouse", "gateway"])
def test_a_killed_clickhouse_or_gateway_is_restarted(stack, name):
    env, home = stack
    old = _pid(home, name)
    restarts = status(home)["restarts"][name]
    killed = time.monotonic()
    os.killpg(old, signal.SIGKILL)
    wait_until(lambda: _restarted(home, name, old), 60, f"{name} restarted")
    assert time.monotonic() - killed < 60
    assert status(home)["restarts"][name] == restarts + 1
    port = env["CITYOPS_GATEWAY_PORT" if name == "gateway" else "CITYOPS_CLICKHOUSE_PORT"]
    assert svc.tcp_open(int(port))
    ids = {f"after-{name}-kill-{n}" for n in range(5)}
    with Publisher(_settings(env, home), "water") as publisher:
        for event_id in sorted(ids):
            publisher.publish(_event(event_id))
    wait_until(lambda: _stored(env, ids) == ids, 90, "the events sent after the restart stored",
               ignoring=(Exception,))  # fmt: skip


def test_a_crash_looping_service_is_given_up_naming_its_log(tmp_path):
    stack = Stack(Settings(home=tmp_path / "home"))
    stack.home.mkdir(parents=True)
    stack._spawn("flaky", [sys.executable, "-c", "print('no luck'); raise SystemExit(3)"], {})
    said: list[str] = []
    supervisor = Supervisor(
        stack, RestartPolicy(base=0.05, cap=0.2, max_exits=5, window=60), say=said.append
    )
    try:
        wait_until(lambda: (supervisor.step() or True) and "flaky" in supervisor.given_up, 30,
                   "the crash loop given up", interval=0.05)  # fmt: skip
        log = str(tmp_path / "home" / "logs" / "flaky.log")
        given_up = [line for line in said if "given up" in line]
        assert len(given_up) == 1 and log in given_up[0], said
        # the message's log tail already holds the last start's line (its log pipe was awaited)
        assert given_up[0].count("no luck") == 5, given_up[0]
        assert stack.restarts["flaky"] == 4  # started 5 times: the 5th exit ends it
        shown = status(stack.home)
        assert shown["services"]["flaky"] == "down"
        assert any(log in message for message in shown["messages"])
        assert (tmp_path / "home" / "logs" / "flaky.log").read_text().count("no luck") == 5
    finally:
        stack.stop_all()


def test_the_last_lines_of_an_exited_service_are_in_its_log_once_its_pipe_is_awaited(tmp_path):
    """A service's output reaches its log through a log pipe process that may still be starting
    or writing when the service has exited (a shell's echo ends long before a Python process has
    started); `log_written` waits for the pipe, so a tail shows how the service ended."""
    log = tmp_path / "logs" / "brief.log"
    proc = svc.spawn("brief", ["/bin/sh", "-c", "echo the last words"], log, rotate=(1 << 20, 1))
    assert proc.pipe is not None
    proc.popen.wait(60)
    proc.log_written(timeout=30)
    assert proc.pipe.poll() == 0
    assert svc.log_tail(log, 1) == "the last words"
