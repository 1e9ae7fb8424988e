"""`cityops bench cluster`: the insert paths of cluster mode (docs/deployment-cluster.md) on a
local 2 × 2 cluster of its own (deploy/cluster.py): batches of `events` rows through the
Distributed table synchronously (what the writer does), asynchronously (the server's default),
and straight into each shard's local table, interleaved batch by batch so that load from
elsewhere on the machine falls on all three alike.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import zlib
from pathlib import Path

from cityops.clickhouse_target import ClickHouseTarget
from cityops.deploy import services as svc
from cityops.deploy.cluster import cluster_target, plan_nodes, start_node, start_zookeeper
from cityops.storage.client import connect, migrate
from cityops.storage.tables import column_names

CLUSTER = "bench"
DATABASE = "bench_cluster"


def event_rows(n: int, seed: int) -> list[tuple]:
    """`n` rows of `events` as the engine's row builder makes them, over 20 streets."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        street = f"320105{rng.randrange(1, 21):03d}"
        incident = f"{street}-{rng.getrandbits(64):016x}"
        at = 1_765_000_000 + i
        rows.append(
            (f"ev-{seed}-{i}", "city.report.v1", "/departments/x", "x", at, at, "320105",
             street, "", "", "", "road", 2, "hotline", "t", incident, '{"a": 1}' * 20)
        )  # fmt: skip
    return rows


def split_by_street(rows: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """Rows of each shard, by street (crc32 here; the split, made before the clock starts, only
    needs to be about even and keep a street together)."""
    parts: tuple[list[tuple], list[tuple]] = ([], [])
    for row in rows:
        parts[zlib.crc32(row[7].encode()) % 2].append(row)
    return parts


def bench_inserts(home: Path, batches: int, batch_rows: int) -> dict:
    ports = [svc.free_port() for _ in range(13)]
    nodes = plan_nodes(ports[1:5], ports[5:9], ports[9:13])
    procs = [start_zookeeper(home, ports[0])]
    clients = []
    try:
        procs += [start_node(home, node, nodes, CLUSTER, ports[0]) for node in nodes]
        target = cluster_target(ClickHouseTarget(database=DATABASE), nodes)
        setup = connect(target, database=False)
        migrate(setup, DATABASE, cluster=CLUSTER)
        setup.disconnect()
        first = connect(target)
        shard_two = connect(target.replace(port=nodes[2].tcp_port, alt_hosts=()))
        clients = [first, shard_two]
        columns = column_names("events")
        sql = f"INSERT INTO {DATABASE}.{{table}} ({', '.join(columns)}) VALUES"

        def insert(client, table, rows, sync=None):
            data = [list(column) for column in zip(*rows, strict=True)]
            settings = {} if sync is None else {"insert_distributed_sync": sync}
            client.execute(
                sql.format(table=table), data, columnar=True, types_check=False, settings=settings
            )

        def direct(parts):
            # a writer that shards itself: one insert per shard into its local table
            insert(first, "events_local", parts[0])
            insert(shard_two, "events_local", parts[1])

        paths = {
            "distributed_sync": lambda rows: insert(first, "events", rows, 1),
            "distributed_async": lambda rows: insert(first, "events", rows, 0),
            "local_direct": direct,
        }
        seconds: dict[str, list[float]] = {name: [] for name in paths}
        for batch in range(batches):
            for number, (name, path) in enumerate(paths.items()):
                rows = event_rows(batch_rows, seed=batch * len(paths) + number)
                batch_input = split_by_street(rows) if name == "local_direct" else rows
                started = time.perf_counter()
                path(batch_input)
                seconds[name].append(time.perf_counter() - started)
        return {
            name: {
                "median_ms": round(statistics.median(samples) * 1000, 1),
                "quartiles_ms": [round(q * 1000, 1) for q in statistics.quantiles(samples, n=4)],
                "rows_per_s": round(batch_rows / statistics.median(samples)),
            }
            for name, samples in seconds.items()
        }
    finally:
        for client in clients:
            client.disconnect()
        for proc in reversed(procs):
            svc.stop(proc)


def suite(env, events=None, quick=False) -> dict:
    batch_rows = 5_000
    batches = max(3, (events or (30_000 if quick else 150_000)) // batch_rows)
    with tempfile.TemporaryDirectory(prefix="cityops-bench-cluster-") as home:
        paths = bench_inserts(Path(home), batches, batch_rows)
    return {"batches": batches, "batch_rows": batch_rows, "shards": 2, "replicas": 2, **paths}
