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
from cityops.deploy.services import CLICKHOUSE_USERS_HEAD, CLICKHOUSE_USERS_TAIL
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


# The nodes' one user, as the single server's (deploy/services.py), and three defaults for every
# client: `in_order` sends a Distributed query or insert to each shard's first live replica (so
# whoever reads through the same node sees what the writer inserted, without waiting for the
# other replica to fetch it; the second replica takes over when the first is down), and
# Distributed inserts return once stored on every shard; `IN` subqueries over co-sharded tables
# run shard-locally, as every cityops client asks for too (storage/client.py, CLIENT_SETTINGS).
CLUSTER_USERS = (
    CLICKHOUSE_USERS_HEAD
    + """    <profiles><default>
        <max_memory_usage>4000000000</max_memory_usage>
        <load_balancing>in_order</load_balancing>
        <insert_distributed_sync>1</insert_distributed_sync>
        <distributed_product_mode>local</distributed_product_mode>
    </default></profiles>
"""
    + CLICKHOUSE_USERS_TAIL
)

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
    """Serving sessions: `srvr` names the server's mode. (`ruok` answers `imok` before the server
    takes sessions; a ClickHouse 18.16 node whose first ZooKeeper handshake is refused that way
    crashed in its DDL worker.)"""
    with socket.create_connection((host, port), timeout=1) as sock:
        sock.sendall(b"srvr")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return b"Mode: " in answer


def node_ready(port: int) -> bool:
    """Answers queries and has its ZooKeeper session (replicated tables and ON CLUSTER DDL)."""
    import logging

    from clickhouse_driver import Client

    # Refused connections are expected while the node starts; keep the driver from logging them.
    logging.getLogger("clickhouse_driver.connection").setLevel(logging.CRITICAL)

    client = Client(host="127.0.0.1", port=port, connect_timeout=1, send_receive_timeout=3)
    try:
        rows = client.execute("SELECT count() FROM system.zookeeper WHERE path = '/'")
        return rows[0][0] > 0
    finally:
        client.disconnect()


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
    users_xml: str = CLUSTER_USERS,
) -> Process:
    """One clickhouse-server of the cluster, with its own data folder under the stack home (kept
    across restarts: a restarted replica catches up from the others through ZooKeeper)."""
    from cityops.deploy.services import clickhouse_binary

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
    wait_until(lambda: node_ready(node.tcp_port), 60, proc, f"ClickHouse server {node.name}")
    return proc


DEFAULT_CLUSTER = "cityops"  # the embedded cluster's name when CITYOPS_CLICKHOUSE_CLUSTER is unset


def cluster_mode(settings, cluster: bool, embedded: bool) -> tuple[str | None, list[Node]]:
    """What `cityops up [--cluster]` runs ClickHouse as: (the cluster's name or None, the
    embedded nodes to start, none for one server or an external cluster)."""
    name = settings.clickhouse_cluster
    if not cluster:
        if embedded and name:
            raise StackError(
                "CITYOPS_CLICKHOUSE_CLUSTER names a cluster, but the embedded ClickHouse is one "
                "server: start the embedded cluster with `cityops up --cluster`, or point "
                "CITYOPS_CLICKHOUSE_URL at a node of your cluster"
            )
        return name, []
    if settings.secure:
        raise StackError(
            "--cluster and --secure together are not supported yet: the nodes' interserver "
            "queries use the password-less default user (docs/deployment-cluster.md)"
        )
    if not embedded:
        if not name:
            raise StackError(
                "--cluster with an external ClickHouse (CITYOPS_CLICKHOUSE_URL) needs the "
                "cluster's name in CITYOPS_CLICKHOUSE_CLUSTER"
            )
        return name, []
    return name or DEFAULT_CLUSTER, embedded_nodes(settings)


def cluster_status(name: str | None, target) -> dict:
    """CONTRACT §9: the cluster's name and every node's native address (the target's node and
    the nodes it fails over to)."""
    if not name:
        return {}
    return {"cluster": name, "nodes": [f"{target.host}:{target.port}", *target.alt_hosts]}


def embedded_nodes(settings) -> list[Node]:
    """The 2 × 2 nodes of `cityops up --cluster`, on the ports the settings give."""
    return plan_nodes(*consecutive_ports(settings.clickhouse_port, settings.clickhouse_http_port))


def cluster_target(target, nodes: list[Node]):
    """The stack's ClickHouse target on the cluster: the first node, the others to fail over to."""
    return target.replace(
        host=nodes[0].host,
        port=nodes[0].tcp_port,
        alt_hosts=tuple(node.address for node in nodes[1:]),
    )
