"""`cityops up / status / down` as a newcomer runs them: real processes and ports, none left."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from cityops.deploy import services as svc


def cityops(env, *args, timeout=180, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "cityops.deploy.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
    )


@pytest.fixture
def stack_env(tmp_path):
    """Environment for a private embedded stack on free ports under a temporary home."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CITYOPS_") or k == "CITYOPS_TEST_ARTIFACTS"
    }
    env.update(
        {
            "CITYOPS_HOME": str(tmp_path / "home"),
            "CITYOPS_BROKER_PORT": str(svc.free_port()),
            "CITYOPS_CLICKHOUSE_PORT": str(svc.free_port()),
            "CITYOPS_CLICKHOUSE_HTTP_PORT": str(svc.free_port()),
            "CITYOPS_GATEWAY_PORT": str(svc.free_port()),
            "CITYOPS_DASHBOARD_PORT": str(svc.free_port()),
            "CITYOPS_WORKER_HTTP_PORT": str(svc.free_port()),
            "CITYOPS_PARTITIONS": "2",
        }
    )
    yield env
    cityops(env, "down")


def test_up_status_down_leaves_nothing_running(stack_env):
    started = cityops(stack_env, "up", "--detach", "--no-dashboard")
    assert started.returncode == 0, started.stderr
    status = json.loads(cityops(stack_env, "status", "--json").stdout)
    assert status["broker"] == f"127.0.0.1:{stack_env['CITYOPS_BROKER_PORT']}"
    assert status["clickhouse"]["port"] == int(stack_env["CITYOPS_CLICKHOUSE_PORT"])
    assert status["clickhouse"]["database"] == "cityops"
    assert status["gateway"].startswith("http://127.0.0.1:")
    assert set(status["services"]) >= {"broker", "clickhouse", "worker-1", "gateway"}
    assert all(state == "up" for state in status["services"].values()), status

    # External clients can use the printed addresses.
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=status["broker"])
    assert "city.events" in admin.list_topics()
    admin.close()
    from clickhouse_driver import Client

    ch = Client(host=status["clickhouse"]["host"], port=status["clickhouse"]["port"])
    tables = {r[0] for r in ch.execute("SHOW TABLES FROM cityops")}
    assert {
        "events",
        "incidents",
        "incident_transitions",
        "dept_tasks",
        "rejected_events",
    } <= tables
    ch.disconnect()

    state = json.loads(
        (os.path.join(stack_env["CITYOPS_HOME"], "stack.json"))
        and open(os.path.join(stack_env["CITYOPS_HOME"], "stack.json")).read()
    )
    pids = [p["pid"] for p in state["processes"]]
    stopped = cityops(stack_env, "down")
    assert stopped.returncode == 0, stopped.stderr
    assert [pid for pid in pids if svc.pid_alive(pid)] == []
    assert svc.port_free(int(stack_env["CITYOPS_BROKER_PORT"]))
    assert svc.port_free(int(stack_env["CITYOPS_CLICKHOUSE_PORT"]))


def test_second_up_is_refused_while_one_runs(stack_env):
    assert cityops(stack_env, "up", "--detach", "--no-dashboard").returncode == 0
    second = cityops(stack_env, "up", "--detach", "--no-dashboard")
    assert second.returncode == 1
    assert "already running" in second.stderr
    assert "Traceback" not in second.stderr


def test_port_in_use_gives_a_message_and_leaves_nothing(stack_env):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", int(stack_env["CITYOPS_CLICKHOUSE_PORT"])))
    blocker.listen()
    try:
        result = cityops(stack_env, "up", "--detach", "--no-dashboard")
    finally:
        blocker.close()
    assert result.returncode == 1
    assert f"port {stack_env['CITYOPS_CLICKHOUSE_PORT']}" in result.stderr
    assert "Traceback" not in result.stderr
    # The broker started before the failure was stopped again.
    assert svc.port_free(int(stack_env["CITYOPS_BROKER_PORT"]))
    assert not os.path.exists(os.path.join(stack_env["CITYOPS_HOME"], "stack.json"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["simulate", "--rate", "-1", "--duration", "5"], "must be greater than 0"),
        (["simulate", "--rate", "abc", "--duration", "5"], "not a number"),
        (["up", "--workers", "99"], "invalid choice"),
        (["registry", "export", "--kind", "planets"], "invalid choice"),
        (["bench", "nonsense"], "invalid choice"),
        (["users", "add", "alice", "--role", "king", "--password-stdin"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_get_one_line_and_status_2(args, message, stack_env):
    result = cityops(stack_env, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
