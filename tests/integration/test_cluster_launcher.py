"""`cityops up --cluster` (CONTRACT §9, §10): the launcher's own cluster on loopback — status names
the cluster and every node, lists each node as a service, and the supervisor restarts a killed
node; `cityops down` leaves nothing running."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys

import orjson

from cityops.deploy import services as svc
from cityops.deploy.stack import status
from tests.waiting import wait_until


def free_run(count: int) -> int:
    """The first of `count` consecutive free loopback ports."""
    for _ in range(200):
        base = random.randrange(20_000, 60_000 - count)
        if all(svc.port_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def test_cityops_up_cluster_reports_the_nodes_and_restarts_a_killed_one(tmp_path):
    """The launcher's cluster (CONTRACT §9): status names the cluster and every node's native
    address, lists each node as a service, and the supervisor restarts a SIGKILLed node."""
    home = tmp_path / "home"
    tcp, http = free_run(4), free_run(104)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env.update(
        {
            "CITYOPS_HOME": str(home),
            "CITYOPS_BROKER_PORT": str(svc.free_port()),
            "CITYOPS_CLICKHOUSE_PORT": str(tcp),
            "CITYOPS_CLICKHOUSE_HTTP_PORT": str(http),
            "CITYOPS_ZOOKEEPER_PORT": str(svc.free_port()),
            "CITYOPS_GATEWAY_PORT": str(svc.free_port()),
            "CITYOPS_WORKER_HTTP_PORT": str(svc.free_port()),
            "CITYOPS_PARTITIONS": "2",
        }
    )

    def cityops(*args):
        argv = [sys.executable, "-m", "cityops.deploy.cli", *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)

    started = cityops("up", "--cluster", "--detach", "--no-dashboard")
    try:
        assert started.returncode == 0, started.stderr
        shown = orjson.loads(cityops("status", "--json").stdout)
        nodes = [f"127.0.0.1:{tcp + i}" for i in range(4)]
        assert shown["clickhouse"]["cluster"] == "cityops"
        assert shown["clickhouse"]["nodes"] == nodes
        assert (shown["clickhouse"]["host"], shown["clickhouse"]["port"]) == ("127.0.0.1", tcp)
        names = ["zookeeper", "clickhouse-1", "clickhouse-2", "clickhouse-3", "clickhouse-4"]
        assert all(shown["services"][name] == "up" for name in names), shown["services"]

        state = orjson.loads((home / "stack.json").read_bytes())
        old = next(p["pid"] for p in state["processes"] if p["name"] == "clickhouse-3")
        os.killpg(old, signal.SIGKILL)

        def restarted():
            now = status(home)
            state = orjson.loads((home / "stack.json").read_bytes())
            pid = next(p["pid"] for p in state["processes"] if p["name"] == "clickhouse-3")
            return now["services"]["clickhouse-3"] == "up" and pid != old and now["restarts"]

        restarts = wait_until(restarted, 60, "clickhouse-3 restarted by the supervisor")
        assert restarts["clickhouse-3"] == 1
        assert svc.tcp_open(tcp + 2)
    finally:
        cityops("down")
        state = home / "stack.json"
        assert not state.exists()
    leftover = subprocess.run(
        ["pgrep", "-f", str(home)], capture_output=True, text=True
    ).stdout.split()
    assert leftover == [], "processes of the stack left running"
