"""The local cluster's plan and configuration files (deploy/cluster.py): pure, no processes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cityops.clickhouse_target import ClickHouseTarget
from cityops.deploy.cluster import (
    CLUSTER_USERS,
    DEFAULT_CLUSTER,
    cluster_mode,
    cluster_status,
    cluster_target,
    consecutive_ports,
    node_config,
    plan_nodes,
    zoo_cfg,
)
from cityops.deploy.services import StackError
from cityops.settings import Settings

TCP, HTTP, INTER = [9000, 9001, 9002, 9003], [8123, 8124, 8125, 8126], [8223, 8224, 8225, 8226]


def test_four_nodes_are_two_shards_of_two_replicas_in_order():
    nodes = plan_nodes(TCP, HTTP, INTER)
    assert [(n.name, n.shard, n.replica, n.tcp_port) for n in nodes] == [
        ("clickhouse-1", 1, 1, 9000),
        ("clickhouse-2", 1, 2, 9001),
        ("clickhouse-3", 2, 1, 9002),
        ("clickhouse-4", 2, 2, 9003),
    ]
    assert [n.address for n in nodes] == [f"127.0.0.1:{p}" for p in TCP]


@pytest.mark.parametrize(
    ("tcp", "http", "inter", "message"),
    [
        ([9000, 9001, 9002], HTTP, INTER, "4 nodes need 4 tcp ports"),
        (TCP, [8123, 8124, 8125, 9000], INTER, "must all differ"),
        (TCP, HTTP, [8223, 8223, 8225, 8226], "must all differ"),
    ],
)
def test_a_bad_port_plan_is_refused(tcp, http, inter, message):
    with pytest.raises(ValueError, match=message):
        plan_nodes(tcp, http, inter)


def test_default_ports_follow_the_single_server_ones():
    assert consecutive_ports(9000, 8123) == (TCP, HTTP, INTER)


def _config(node_index: int, cluster: str = "cityops") -> ET.Element:
    nodes = plan_nodes(TCP, HTTP, INTER)
    text = node_config(
        nodes[node_index], nodes, cluster, 2181, Path("/h/data"), Path("/h/logs"), Path("/h/u.xml")
    )
    return ET.fromstring(text)


def test_a_node_config_has_its_ports_folders_and_macros():
    root = _config(2)  # clickhouse-3: shard 2, replica 1
    assert root.findtext("tcp_port") == "9002"
    assert root.findtext("http_port") == "8125"
    assert root.findtext("interserver_http_port") == "8225"
    assert root.findtext("interserver_http_host") == "127.0.0.1"
    assert root.findtext("path") == "/h/data/"
    assert root.findtext("logger/errorlog") == "/h/logs/clickhouse-3.err.log"
    assert root.findtext("macros/shard") == "02"
    assert root.findtext("macros/replica") == "r1"
    assert root.findtext("zookeeper/node/port") == "2181"
    assert root.findtext("distributed_ddl/path") == "/clickhouse/task_queue/ddl"


def test_every_node_knows_the_whole_cluster_with_internal_replication():
    root = _config(0, cluster="city_a")
    shards = root.findall("remote_servers/city_a/shard")
    assert [s.findtext("internal_replication") for s in shards] == ["true", "true"]
    assert [[r.findtext("port") for r in s.findall("replica")] for s in shards] == [
        ["9000", "9001"],
        ["9002", "9003"],
    ]


def test_replicas_of_one_shard_have_distinct_macros():
    macros = {
        (_config(i).findtext("macros/shard"), _config(i).findtext("macros/replica"))
        for i in range(4)
    }
    assert len(macros) == 4


@pytest.mark.parametrize("name", ["bad name", "x</cityops><y>", ""])
def test_a_cluster_name_that_is_not_an_identifier_is_refused(name):
    with pytest.raises(ValueError, match="cluster name"):
        _config(0, cluster=name)


def test_zookeeper_listens_on_loopback_and_answers_srvr():
    cfg = dict(line.split("=", 1) for line in zoo_cfg(Path("/h/zk"), 2222).splitlines())
    assert cfg["clientPort"] == "2222"
    assert cfg["clientPortAddress"] == "127.0.0.1"
    assert cfg["dataDir"] == "/h/zk"
    assert "srvr" in cfg["4lw.commands.whitelist"]
    assert cfg["admin.enableServer"] == "false"


def test_the_nodes_profile_first_live_replica_synchronous_inserts_shard_local_subqueries():
    profile = ET.fromstring(CLUSTER_USERS).find("profiles/default")
    assert profile.findtext("load_balancing") == "in_order"
    assert profile.findtext("insert_distributed_sync") == "1"
    assert profile.findtext("distributed_product_mode") == "local"


def test_the_stack_target_is_the_first_node_failing_over_to_the_others():
    nodes = plan_nodes(TCP, HTTP, INTER)
    target = cluster_target(ClickHouseTarget(port=1234, database="city"), nodes)
    assert (target.port, target.database) == (9000, "city")
    assert target.alt_hosts == ("127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003")
    assert cluster_status("cityops", target) == {
        "cluster": "cityops",
        "nodes": [f"127.0.0.1:{p}" for p in TCP],
    }
    assert cluster_status(None, target) == {}


MODES = [
    # (--cluster, embedded, CITYOPS_CLICKHOUSE_CLUSTER, secure) -> (name, number of nodes) or error
    pytest.param(False, True, None, False, (None, 0), id="one embedded server"),
    pytest.param(True, True, None, False, (DEFAULT_CLUSTER, 4), id="embedded cluster"),
    pytest.param(True, True, "city", False, ("city", 4), id="embedded cluster, named"),
    pytest.param(False, False, "prod", False, ("prod", 0), id="external cluster"),
    pytest.param(True, False, "prod", False, ("prod", 0), id="external cluster with --cluster"),
    pytest.param(True, False, None, False, "needs the cluster's name", id="external, no name"),
    pytest.param(False, True, "prod", False, "cityops up --cluster", id="name, one server"),
    pytest.param(True, True, None, True, "not supported yet", id="with --secure"),
]


@pytest.mark.parametrize(("flag", "embedded", "name", "secure", "expected"), MODES)
def test_cluster_mode(flag, embedded, name, secure, expected):
    settings = Settings(clickhouse_cluster=name, secure=secure)
    if isinstance(expected, str):
        with pytest.raises(StackError, match=expected):
            cluster_mode(settings, flag, embedded=embedded)
        return
    got_name, nodes = cluster_mode(settings, flag, embedded=embedded)
    assert (got_name, len(nodes)) == expected


def test_a_detached_up_passes_cluster_on_to_the_supervisor():
    from cityops.deploy.cli import _foreground_up, build_parser

    args = build_parser().parse_args(["up", "--detach", "--cluster", "--no-dashboard"])
    assert _foreground_up(args) == ["up", "--no-dashboard", "--cluster"]
    assert "--cluster" not in _foreground_up(build_parser().parse_args(["up", "--detach"]))
