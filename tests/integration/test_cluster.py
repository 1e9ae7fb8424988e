"""Cluster mode (CONTRACT §9) on a real local cluster: ZooKeeper and 2 shards × 2 replicas of
clickhouse-server, started once for the module with the launcher's own functions
(deploy/cluster.py), the schema made by the cluster-aware migrations, and a real worker writing
events it reads from the real broker. Every wait polls with a deadline."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from cityops.bench.events import publish_all
from cityops.clickhouse_target import ClickHouseTarget
from cityops.deploy import services as svc
from cityops.deploy.cluster import Node, cluster_target, plan_nodes, start_node, start_zookeeper
from cityops.schemas.topics import Topics
from cityops.sdk import action, complete
from cityops.settings import Settings
from cityops.storage.client import connect, migrate
from cityops.storage.ddl import MIGRATIONS, TABLES
from cityops.storage.writer import ClickHouseWriter
from cityops.streams.publish.simulator.batches import distinct_incidents
from cityops.topics_admin import all_topics, create_topics
from tests.waiting import wait_until

CLUSTER = "city_test"
LOCAL_TABLES = (
    *TABLES,
    "incident_changes",
    "event_hours",
    "transitions_by_time",
    "incidents_by_report",
    "incident_event_ids",
)


@dataclass
class Cluster:
    home: Path
    zookeeper_port: int
    nodes: list[Node]
    procs: dict[str, svc.Process] = field(default_factory=dict)

    def start(self, node: Node) -> None:
        self.procs[node.name] = start_node(
            self.home, node, self.nodes, CLUSTER, self.zookeeper_port
        )

    def kill(self, node: Node) -> None:
        proc = self.procs.pop(node.name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.popen.wait(10)

    def client(self, node: Node, database: str = "default"):
        return connect(ClickHouseTarget(port=node.tcp_port, database=database))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Cluster:
    home = tmp_path_factory.mktemp("cluster")
    ports = [svc.free_port() for _ in range(13)]
    nodes = plan_nodes(ports[1:5], ports[5:9], ports[9:13])
    handle = Cluster(home, ports[0], nodes)
    zookeeper = start_zookeeper(home, handle.zookeeper_port)
    try:
        for node in nodes:
            handle.start(node)
        yield handle
    finally:
        for proc in handle.procs.values():
            svc.stop(proc)
        svc.stop(zookeeper)


@dataclass
class Stack:
    cluster: Cluster
    settings: Settings
    log: Path
    worker: object = None

    @property
    def db(self) -> str:
        return self.settings.database

    def send(self, events: list[dict]) -> None:
        pairs = [(e.get("partitionkey", "").encode(), orjson.dumps(e)) for e in events]
        topic = Topics(self.settings.topic_prefix).events
        asyncio.run(publish_all(self.settings.bootstrap, topic, pairs))

    def on(self, node: Node, sql: str, params: dict | None = None):
        client = self.cluster.client(node, self.db)
        try:
            return client.execute(sql.replace("{db}", self.db), params or {})
        finally:
            client.disconnect()

    def on_every_node(self, sql: str, params: dict | None = None) -> list:
        return [self.on(node, sql, params) for node in self.cluster.nodes]

    def wait(self, what: str, check, timeout: float = 90.0):
        def alive_and_check():
            if self.worker is not None and self.worker.poll() is not None:
                pytest.fail(f"worker exited; log tail:\n{svc.log_tail(self.log, 30)}")
            return check()

        return wait_until(
            alive_and_check,
            timeout,
            what,
            interval=0.3,
            ignoring=(Exception,),
            details=lambda: f"worker log tail:\n{svc.log_tail(self.log, 20)}",
        )


@pytest.fixture(scope="module")
def stack(cluster, services, tmp_path_factory) -> Stack:
    """A database migrated on the cluster and one real worker writing into it."""
    token = uuid.uuid4().hex[:10]
    database = f"c_{token}"
    target = cluster_target(ClickHouseTarget(database=database), cluster.nodes)
    client = connect(target, database=False)
    assert migrate(client, database, cluster=CLUSTER) == [m.version for m in MIGRATIONS]
    client.disconnect()
    home = tmp_path_factory.mktemp("worker")
    settings = Settings(
        home=home,
        kafka_bootstrap=services.bootstrap,
        clickhouse_url=target.url(),
        clickhouse_cluster=CLUSTER,
        topic_prefix=f"c{token}.",
        partitions=4,
        database=database,
        tick_seconds=0.5,
        flush_seconds=0.3,
    )
    create_topics(services.bootstrap, all_topics(settings), settings.partitions)
    handle = Stack(cluster, settings, home / "worker.log")
    handle.worker = svc.start_worker(settings, handle.log)
    try:
        yield handle
    finally:
        if handle.worker.poll() is None:
            os.killpg(handle.worker.pid, signal.SIGTERM)
            try:
                handle.worker.wait(30)
            except Exception:  # noqa: BLE001 - then by force
                os.killpg(handle.worker.pid, signal.SIGKILL)
                handle.worker.wait(10)


def spread_reports(n: int, tag: str) -> list[dict]:
    """`n` reports opening one incident each, spread over the city's streets."""
    return distinct_incidents(200 * n, tag)[::200]


def count_on_every_node(stack: Stack, sql: str) -> list[int]:
    return [rows[0][0] for rows in stack.on_every_node(sql)]


# -- the schema ---------------------------------------------------------------------------------


def test_migrations_create_the_schema_on_every_node(stack):
    for node in stack.cluster.nodes:
        engines = dict(
            stack.on(node, "SELECT name, engine FROM system.tables WHERE database = %(db)s",
                     {"db": stack.db})
        )  # fmt: skip
        for table in LOCAL_TABLES:
            assert engines[table] == "Distributed", (node.name, table)
            assert engines[f"{table}_local"].startswith("Replicated"), (node.name, table)
            assert engines[f"{table}_local"].endswith("MergeTree"), (node.name, table)
        assert engines["incidents_current"] == engines["measures"] == "View"
        assert engines["event_hours_mv"] == "MaterializedView"
    # the migrations' bookkeeping reaches every node: any node knows what ran
    last = MIGRATIONS[-1].version
    stack.wait(
        f"schema version {last} on every node",
        lambda: (
            count_on_every_node(stack, "SELECT max(version) FROM {db}.schema_version") == [last] * 4
        ),
    )


# -- what a worker writes -----------------------------------------------------------------------


def test_reports_through_the_broker_are_stored_sharded_by_street_and_queryable_everywhere(stack):
    reports = spread_reports(120, f"spread{uuid.uuid4().hex[:6]}")
    stack.send(reports)
    ids = tuple(r["id"] for r in reports)
    query = "SELECT uniqExact(id) FROM {db}.events WHERE id IN %(ids)s"
    stack.wait(
        "every report on every node",
        lambda: [rows[0][0] for rows in stack.on_every_node(query, {"ids": ids})] == [120] * 4,
    )
    opened = "SELECT count() FROM {db}.incidents_current WHERE incident_id IN (SELECT incident_id FROM {db}.events WHERE id IN %(ids)s)"  # noqa: E501
    stack.wait(
        "their incidents on every node",
        lambda: [rows[0][0] for rows in stack.on_every_node(opened, {"ids": ids})] == [120] * 4,
    )
    # sharded: both shards hold some streets, no street and no incident on both
    first, _, third, _ = stack.cluster.nodes
    streets = "SELECT DISTINCT street FROM {db}.incidents_local"
    incidents = "SELECT DISTINCT incident_id FROM {db}.incidents_local"
    shard1 = {r[0] for r in stack.on(first, streets)}
    shard2 = {r[0] for r in stack.on(third, streets)}
    assert shard1 and shard2 and not shard1 & shard2
    assert not {r[0] for r in stack.on(first, incidents)} & {
        r[0] for r in stack.on(third, incidents)
    }
    # every incident's event rows live on the shard of its incident rows
    split = (
        "SELECT count() FROM {db}.events_local WHERE id IN %(ids)s AND incident_id NOT IN "
        "(SELECT incident_id FROM {db}.incidents_local)"
    )
    assert stack.on(first, split, {"ids": ids}) == stack.on(third, split, {"ids": ids}) == [(0,)]


def test_the_latest_state_of_each_incident_is_correct_on_every_node(stack):
    reports = spread_reports(20, f"state{uuid.uuid4().hex[:6]}")
    stack.send(reports)
    ids = tuple(r["id"] for r in reports)
    leads_sql = (
        "SELECT incident_id, lead_department, street FROM {db}.incidents_current WHERE incident_id "
        "IN (SELECT incident_id FROM {db}.events WHERE id IN %(ids)s)"
    )

    def all_opened():
        rows = stack.on(stack.cluster.nodes[0], leads_sql, {"ids": ids})
        return rows if len(rows) == 20 else None

    leads = stack.wait("the 20 incidents opened", all_opened)
    now = datetime.now(UTC)
    actions, expected = [], {}
    for n, (incident_id, lead, street) in enumerate(sorted(leads)):
        verbs = ["accept"] + (["resolve"] if n % 2 else [])
        for verb in verbs:
            doc = action(verb, incident_id, department=lead, partitionkey=street)
            actions.append(complete(doc, lead, now=now))
        expected[incident_id] = "resolved" if n % 2 else "accepted"
    stack.send(actions)
    latest = (
        "SELECT incident_id, status FROM {db}.incidents_current WHERE incident_id IN %(incidents)s"
    )
    by_limit = (
        "SELECT incident_id, status FROM {db}.incidents WHERE incident_id IN %(incidents)s "
        "ORDER BY incident_id, version DESC LIMIT 1 BY incident_id"
    )
    params = {"incidents": tuple(expected)}
    for sql in (latest, by_limit):
        stack.wait(
            f"the latest status of every incident on every node ({sql.split()[3]})",
            lambda sql=sql: all(
                dict(rows) == expected for rows in stack.on_every_node(sql, params)
            ),
        )
    final = "SELECT count() FROM {db}.incidents FINAL WHERE incident_id IN %(incidents)s"
    assert [rows[0][0] for rows in stack.on_every_node(final, params)] == [20] * 4


# -- retries and views --------------------------------------------------------------------------


def test_a_retried_batch_is_dropped_and_views_count_each_row_once(stack):
    """The sink's retry after an unacknowledged insert resends the same batch: the replicated
    tables drop its blocks as duplicates, so counts, including the materialized views' (which
    feed local targets), do not move; a different batch of the same shape does count."""
    hour = int(datetime(2020, 1, 2, 3, tzinfo=UTC).timestamp())  # an hour no other test writes

    def rows(tag):  # noqa: E306
        return [
            (f"{tag}-{i}", "city.report.v1", "/departments/x", "x", hour + i, hour + i, "320102",
             f"32010200{i % 4}", "", "", "", "road", 2, "app", "t", f"32010200{i % 4}-{tag}{i}",
             "{}")
            for i in range(40)
        ]  # fmt: skip

    writer = ClickHouseWriter(stack.settings.clickhouse)
    try:
        for batch in (rows("a"), rows("a"), rows("b")):  # the second is a retry of the first
            for row in batch:
                writer.add("events", row)
            writer.flush()
    finally:
        writer.close()
    counts = (
        "SELECT (SELECT count() FROM {db}.events WHERE time >= toDateTime(%(h)s) AND "
        "time < toDateTime(%(h)s) + 3600), "
        "(SELECT sum(rows) FROM {db}.event_hours WHERE hour = toDateTime(%(h)s)), "
        "(SELECT count() FROM {db}.incident_event_ids WHERE time >= toDateTime(%(h)s) "
        "AND time < toDateTime(%(h)s) + 3600)"
    )
    stack.wait(
        "80 rows in events, event_hours and incident_event_ids on every node",
        lambda: all(rows == [(80, 80, 80)] for rows in stack.on_every_node(counts, {"h": hour})),
    )


# -- a replica killed under load ----------------------------------------------------------------


def test_a_killed_replica_loses_nothing_and_the_replicas_converge(stack):
    """SIGKILL of clickhouse-1 (the node the worker writes through) while reports stream in:
    the worker fails over to the other nodes, queries through shard 2's node keep answering from
    the other replica of shard 1, every report is stored, and after the node is back each
    shard's replicas hold the same rows."""
    cluster = stack.cluster
    first, _, third, _ = cluster.nodes
    tag = f"kill{uuid.uuid4().hex[:6]}"
    reports = spread_reports(600, tag)
    answers: list[tuple[float, bool]] = []
    stop = threading.Event()

    def query_through_shard_two():
        client = cluster.client(third, stack.db)
        while not stop.is_set():
            started = time.monotonic()
            try:
                client.execute(f"SELECT count() FROM {stack.db}.events")
                answers.append((started, True))
            except Exception:  # noqa: BLE001 - counted as a failed query
                answers.append((started, False))
                client.disconnect()
            stop.wait(0.2)
        client.disconnect()

    reader = threading.Thread(target=query_through_shard_two, daemon=True)
    reader.start()

    def steady_load():  # 30 reports every ~0.15 s: a pace, not a wait for anything
        pace = threading.Event()
        for i in range(0, len(reports), 30):
            stack.send(reports[i : i + 30])
            pace.wait(0.15)

    sender = threading.Thread(target=steady_load, daemon=True)
    try:
        sender.start()
        ids = tuple(r["id"] for r in reports)
        stored = f"SELECT uniqExact(id) FROM {stack.db}.events WHERE id IN %(ids)s"
        stack.wait(
            "the first reports stored", lambda: stack.on(third, stored, {"ids": ids})[0][0] > 50
        )
        killed_at = time.monotonic()
        cluster.kill(first)
        sender.join(60)
        # Everything arrives while clickhouse-1 is down: the worker writes through the others.
        stack.wait(
            "all 600 reports stored with clickhouse-1 down",
            lambda: stack.on(third, stored, {"ids": ids})[0][0] == 600,
        )
        # clickhouse-1 is still down: the reader keeps asking shard 2 until it has answered a few
        # times in the outage (the 600 may all be stored within a second of the kill)
        wait_until(
            lambda: sum(1 for started, _ in list(answers) if started >= killed_at + 1.0) >= 5,
            30,
            "five queries through shard 2 during the outage",
        )
        back_at = time.monotonic()
        during = [ok for started, ok in answers if killed_at + 1.0 <= started < back_at]
        assert len(during) >= 5 and all(during), f"queries during the outage: {during}"
    finally:
        stop.set()
        reader.join(10)
        if first.name not in cluster.procs:
            cluster.start(first)

    # the returned replica catches up: both replicas of each shard hold the same rows
    def converged():  # noqa: E306
        for table in LOCAL_TABLES:
            counts = [
                stack.on(node, f"SELECT count() FROM {{db}}.{table}_local")[0][0]
                for node in cluster.nodes
            ]
            if counts[0] != counts[1] or counts[2] != counts[3]:
                return None
        return True

    stack.wait("the replicas of each shard to hold the same rows", converged, timeout=120)
    assert stack.on(first, stored, {"ids": ids}) == [(600,)]


def test_the_dashboards_scoped_queries_answer_on_the_cluster(stack):
    """The wall's and drill-down's queries that filter one Distributed table by an `IN` subquery
    over another (a district's scope) answer on the cluster, with the same incident found."""
    from cityops.storage import event_queries, incident_pages, wall_queries

    reports = spread_reports(6, f"dash{uuid.uuid4().hex[:6]}")
    stack.send(reports)
    ids = tuple(r["id"] for r in reports)
    sql = (
        "SELECT incident_id, district FROM {db}.incidents_current WHERE incident_id IN "
        "(SELECT incident_id FROM {db}.events WHERE id IN %(ids)s)"
    )
    third = stack.cluster.nodes[2]
    opened = stack.wait(
        "the 6 incidents", lambda: len(rows := stack.on(third, sql, {"ids": ids})) == 6 and rows
    )
    incident_id, district = opened[0]
    client = connect(stack.settings.clickhouse)
    try:
        page = incident_pages.incident(client, stack.db, incident_id, scope=district)
        assert page is not None and page["incident_id"] == incident_id
        assert incident_pages.transitions(client, stack.db, incident_id)
        assert incident_pages.incident_events(client, stack.db, incident_id, since=0)
        changes = event_queries.latest_transitions(
            client, stack.db, since=0, scope=district, limit=500
        )
        assert incident_id in {change["incident_id"] for change in changes}
        severe = wall_queries.severe_open(client, stack.db, min_severity=1, scope=district)
        assert incident_id in {row["incident_id"] for row in severe}
        wall_queries.joint_open(client, stack.db, scope=district)
        counters = wall_queries.incident_counters(
            client, stack.db, now=int(time.time()), scope=district
        )
        assert counters is not None
    finally:
        client.disconnect()
