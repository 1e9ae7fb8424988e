"""The local ClickHouse cluster of `cityops up --cluster` (CONTRACT §9): one ZooKeeper server and
2 shards × 2 replicas of `clickhouse-server` on loopback, every file generated into the stack home.

The plan (ports, shard and replica of each node) and the configuration texts are pure functions
(tests/unit/deploy/test_cluster_config.py); `start_zookeeper` and `start_node` only write those
files and start the processes, waiting on readiness, never with a fixed sleep.
"""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from cityops.deploy.processes import Process, StackError, require_free, spawn, wait_until
from cityops.storage.cluster_ddl import check_cluster_name

ZOOKEEPER_JARS = Path("/usr/share/java")
ZOOKEEPER_MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
DDL_QUEUE = "/clickhouse/task_queue/ddl"


@dataclass(frozen=True)
class Node:
    """One clickhouse-server of the cluster: `name` is its service name (clickhouse-1 …)."""

    index: int  # 1-based
    shard: int  # 1-based
    replica: int  # 1-based within its shard
    tcp_port: int
    http_port: int
    interserver_port: int
    host: str = "127.0.0.1"

    @property
    def name(self) -> str:
        return f"clickhouse-{self.index}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.tcp_port}"


def plan_nodes(
    tcp_ports: list[int],
    http_ports: list[int],
    interserver_ports: list[int],
    shards: int = 2,
    replicas: int = 2,
) -> list[Node]:
    """Nodes in shard order: node 1 and 2 are shard 1's replicas, 3 and 4 shard 2's, …"""
    count = shards * replicas
    if shards < 1 or replicas < 1:
        raise ValueError("a cluster needs at least one shard and one replica")
    for what, ports in (
        ("tcp", tcp_ports),
        ("http", http_ports),
        ("interserver", interserver_ports),
    ):
        if len(ports) != count:
            raise ValueError(f"{count} nodes need {count} {what} ports, got {len(ports)}")
    every = [*tcp_ports, *http_ports, *interserver_ports]
    if len(set(every)) != len(every):
        raise ValueError(f"the cluster's ports must all differ, got {every}")
    return [
        Node(
            i + 1,
            i // replicas + 1,
            i % replicas + 1,
            tcp_ports[i],
            http_ports[i],
            interserver_ports[i],
        )
        for i in range(count)
    ]


def consecutive_ports(
    tcp: int, http: int, count: int = 4
) -> tuple[list[int], list[int], list[int]]:
    """The default ports of `count` nodes: native from `tcp`, HTTP from `http`, interserver from
    `http` + 100 (9000…9003, 8123…8126, 8223…8226 with the defaults)."""
    return (
        [tcp + i for i in range(count)],
        [http + i for i in range(count)],
        [http + 100 + i for i in range(count)],
    )


def zoo_cfg(data_dir: Path, port: int) -> str:
    """A standalone ZooKeeper on loopback; `ruok`/`srvr` answer readiness checks."""
    return (
        "tickTime=2000\n"
        "initLimit=10\n"
        "syncLimit=5\n"
        f"dataDir={data_dir}\n"
        f"clientPort={port}\n"
        "clientPortAddress=127.0.0.1\n"
        "maxClientCnxns=200\n"
        "admin.enableServer=false\n"
        "4lw.commands.whitelist=ruok,srvr,mntr\n"
        "autopurge.snapRetainCount=3\n"
        "autopurge.purgeInterval=1\n"
    )


def remote_servers(cluster: str, nodes: list[Node]) -> str:
    """`<remote_servers>`: one `<shard>` per shard with its replicas; internal_replication so a
    Distributed insert writes one replica and the Replicated table copies it to the others."""
    shards: dict[int, list[Node]] = {}
    for node in nodes:
        shards.setdefault(node.shard, []).append(node)
    parts = [f"    <remote_servers>\n        <{cluster}>"]
    for shard in sorted(shards):
        parts.append("            <shard>")
        parts.append("                <internal_replication>true</internal_replication>")
        for node in shards[shard]:
            address = f"<host>{node.host}</host><port>{node.tcp_port}</port>"
            parts.append(f"                <replica>{address}</replica>")
        parts.append("            </shard>")
    parts.append(f"        </{cluster}>\n    </remote_servers>")
    return "\n".join(parts)


def node_config(
    node: Node,
    nodes: list[Node],
    cluster: str,
    zookeeper_port: int,
    data: Path,
    logs: Path,
    users: Path,
) -> str:
    """The config.xml of one node: its ports and folders, the cluster, ZooKeeper, its macros."""
    check_cluster_name(cluster)
    log = escape(str(logs / node.name))
    return f"""<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>{log}.log</log>
        <errorlog>{log}.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>{node.host}</listen_host>
    <tcp_port>{node.tcp_port}</tcp_port>
    <http_port>{node.http_port}</http_port>
    <interserver_http_port>{node.interserver_port}</interserver_http_port>
    <interserver_http_host>{node.host}</interserver_http_host>
    <path>{escape(str(data))}/</path>
    <tmp_path>{escape(str(data))}/tmp/</tmp_path>
    <user_files_path>{escape(str(data))}/user_files/</user_files_path>
    <format_schema_path>{escape(str(data))}/format_schemas/</format_schema_path>
    <timezone>UTC</timezone>
    <mark_cache_size>268435456</mark_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <users_config>{escape(str(users))}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
{remote_servers(cluster, nodes)}
    <zookeeper>
        <node><host>127.0.0.1</host><port>{zookeeper_port}</port></node>
        <session_timeout_ms>10000</session_timeout_ms>
    </zookeeper>
    <macros>
        <cluster>{cluster}</cluster>
        <shard>{node.shard:02d}</shard>
        <replica>r{node.replica}</replica>
    </macros>
    <distributed_ddl><path>{DDL_QUEUE}</path></distributed_ddl>
</yandex>
"""


# -- processes ----------------------------------------------------------------------------------


def zookeeper_command(config: Path) -> list[str]:
    java = shutil.which("java")
    jar = ZOOKEEPER_JARS / "zookeeper.jar"
    if not java or not jar.exists():
        raise StackError(
            "--cluster needs ZooKeeper: install Debian's package (`sudo apt-get install -y "
            "zookeeper`, which brings Java) or point cityops at a cluster with "
            "CITYOPS_CLICKHOUSE_URL and CITYOPS_CLICKHOUSE_CLUSTER"
        )
    # zookeeper.jar's manifest lists its dependencies; slf4j-simple gives it a log to stderr.
    classpath = [str(jar)]
    simple = ZOOKEEPER_JARS / "slf4j-simple.jar"
    if simple.exists():
        classpath.append(str(simple))
    return [
        java,
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-cp",
        ":".join(classpath),
        ZOOKEEPER_MAIN,
        str(config),
    ]


def zookeeper_ready(port: int, host: str = "127.0.0.1") -> bool:
    with socket.create_connection((host, port), timeout=1) as sock:
        sock.sendall(b"ruok")
        return sock.recv(16) == b"imok"


def start_zookeeper(home: Path, port: int) -> Process:
    require_free(port, "ZooKeeper")
    base = (home / "zookeeper").resolve()
    (base / "data").mkdir(parents=True, exist_ok=True)
    logs = (home / "logs").resolve()
    config = base / "zoo.cfg"
    config.write_text(zoo_cfg(base / "data", port))
    proc = spawn("zookeeper", zookeeper_command(config), logs / "zookeeper.log", cwd=base)
    wait_until(lambda: zookeeper_ready(port), 60, proc, "ZooKeeper")
    return proc


def start_node(
    home: Path,
    node: Node,
    nodes: list[Node],
    cluster: str,
    zookeeper_port: int,
    users_xml: str,
) -> Process:
    """One clickhouse-server of the cluster, with its own data folder under the stack home (kept
    across restarts: a restarted replica catches up from the others through ZooKeeper)."""
    from cityops.deploy.services import clickhouse_binary, clickhouse_ready

    for port, what in (
        (node.tcp_port, "native port"),
        (node.http_port, "HTTP port"),
        (node.interserver_port, "interserver port"),
    ):
        require_free(port, f"{node.name} ({what})")
    base = (home / "clickhouse-cluster" / node.name).resolve()
    data, logs = base / "data", (home / "logs").resolve()
    for folder in (data / "tmp", data / "user_files", data / "format_schemas", logs):
        folder.mkdir(parents=True, exist_ok=True)
    users = base / "users.xml"
    users.write_text(users_xml)
    config = base / "config.xml"
    config.write_text(node_config(node, nodes, cluster, zookeeper_port, data, logs, users))
    argv = [*clickhouse_binary(), f"--config-file={config}"]
    proc = spawn(node.name, argv, logs / f"{node.name}.stdout.log", cwd=base)
    wait_until(lambda: clickhouse_ready(node.tcp_port), 60, proc, f"ClickHouse server {node.name}")
    return proc
