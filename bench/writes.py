"""`cityops bench writes`: what each materialized view costs ClickHouse per event, so a view's read
gain can be weighed against its write cost (docs/performance.md §2).

The rows are the engine's own: the simulator's events applied by the incident engine in process
(as `cityops bench engine` does), each commit's batch cut into inserts of about
`INSERT_EVENTS` events (what one worker's 0.5-s flush holds at 2,000 events/s). They are inserted
by the worker's writer (`ClickHouseWriter`, the same columnar inserts) into side-by-side databases
migrated alike: as shipped, without each materialized view (dropped after migrating), and
without any. Each pass inserts every batch into a fresh database with its merges stopped (the
insert-time cost: a view's SELECT and its own part per insert), then merges each table once
(OPTIMIZE FINAL: each row rewritten once, a bounded stand-in for the merges a live table does
over time); ClickHouse's CPU is read from its process around each step. Without the stop, the
merges a pass leaves running vary from run to run by more than the views cost (the first
attempt measured 159–605 µs per event for the same database). The database is dropped after its
pass. The passes run in rotating order, twice, and the lower of the two is kept (other work on
a shared machine only adds). A view's cost is the shipped database's CPU
per event minus that of the database without it; "no views" is the tables' own cost.

Server CPU needs the embedded ClickHouse the benchmark started (its process is read); against an
external server only the writer's own CPU per event is reported.
"""

from __future__ import annotations

import time

from cityops.bench import engine as engine_bench
from cityops.bench.workers import cpu_seconds
from cityops.storage.client import check_database_name, connect, migrate
from cityops.storage.writer import ClickHouseWriter

INSERT_EVENTS = 1_000
ROUNDS = 2


def engine_commits(events: int, seed: int = 7) -> list[dict[str, list[tuple]]]:
    """What each commit of the engine hands the writer for `events` simulator events."""
    commits: list[dict[str, list[tuple]]] = []

    class Collect:
        def add(self, batch, outbox, table_writes) -> None:
            commits.append(batch)

    bundles = engine_bench.fetches(events, seed, 8)
    Timer = engine_bench.Timer
    engine_bench.run(bundles, 8, Timer(None), Timer(None), Collect())  # type: ignore[arg-type]
    return commits


def insert_batches(events: int, seed: int = 7) -> list[dict[str, list[tuple]]]:
    """The engine's commits of `events` simulator events, each cut into inserts of about
    INSERT_EVENTS events (every table's rows cut in the same number of slices)."""
    commits = engine_commits(events, seed)
    per_commit = events / max(len(commits), 1)
    slices = max(1, round(per_commit / INSERT_EVENTS))
    out = []
    for batch in commits:
        for i in range(slices):
            piece = {}
            for table, rows in batch.items():
                size = -(-len(rows) // slices)
                if part := rows[i * size : (i + 1) * size]:
                    piece[table] = part
            if piece:
                out.append(piece)
    return out


def _tables(client, database: str, engine: str) -> list[str]:
    """The tables of `database` whose engine matches the LIKE pattern `engine`."""
    rows = client.execute(
        "SELECT name FROM system.tables WHERE database = %(db)s AND engine LIKE %(engine)s "
        "ORDER BY name",
        {"db": database, "engine": engine},
    )
    return [check_database_name(name) for (name,) in rows]


def _pass(env, admin, name: str, drop: list[str], batches, server) -> tuple[float, float, float]:
    """One pass into a fresh database `name` (migrated, then `drop`ped views): every batch
    inserted by the writer with the tables' merges stopped, then each table merged once
    (`OPTIMIZE … FINAL`); returns the server's CPU seconds inserting and merging, and the
    writer's. Merges stopped make the insert share exact (no merge runs when it would); the
    one final merge is a bounded, comparable stand-in for the merges a running server does over
    time (each row rewritten once; a live table rewrites it a few times). The database is
    dropped after, so no pass pays for another's parts."""
    db = check_database_name(name)
    migrate(admin, db)
    for view in drop:
        admin.execute(f"DROP TABLE {db}.{view}")
    tables = _tables(admin, db, "%MergeTree")
    for table in tables:
        admin.execute(f"SYSTEM STOP MERGES {db}.{table}")
    writer = ClickHouseWriter(env.clickhouse.with_database(db))

    def cpu() -> float:
        return cpu_seconds([server])[0] if server is not None else 0.0

    try:
        before, own = cpu(), time.process_time()
        for batch in batches:
            writer.flush(dict(batch))  # flush empties the dict it is given, not the lists
        own = time.process_time() - own
        inserted = cpu()
        for table in tables:
            admin.execute(f"SYSTEM START MERGES {db}.{table}")
            admin.execute(f"OPTIMIZE TABLE {db}.{table} FINAL")
        merged = cpu()
    finally:
        writer.close()
        admin.execute(f"DROP DATABASE IF EXISTS {db}")
    return inserted - before, merged - inserted, own


def bench_writes(env, events: int, rounds: int = ROUNDS) -> dict:
    batches = insert_batches(events)
    server = env.services.get("clickhouse")
    admin = connect(env.clickhouse, database=False)
    token = f"bench_writes_{int(time.time())}"
    try:
        probe = check_database_name(f"{token}_probe")
        migrate(admin, probe)
        views = _tables(admin, probe, "MaterializedView")
        admin.execute(f"DROP DATABASE {probe}")
        # label -> the views dropped before its passes
        configs: dict[str, list[str]] = {"shipped": []}
        configs.update({f"without {view}": [view] for view in views})
        configs["no views"] = list(views)
        runs: dict[str, list[tuple[float, float, float]]] = {label: [] for label in configs}
        labels = list(configs)
        for number in range(rounds):
            shift = number % len(labels)
            for index, label in enumerate(labels[shift:] + labels[:shift]):
                name = f"{token}_{number}_{index}"
                runs[label].append(_pass(env, admin, name, configs[label], batches, server))
    finally:
        admin.disconnect()
    per_event = 1e6 / events

    def lowest(label: str, index: int) -> float:
        return round(min(run[index] for run in runs[label]) * per_event, 1)

    result: dict = {
        "events": events,
        "inserts": len(batches) * rounds * len(configs),
        "rows_per_event": round(sum(len(r) for b in batches for r in b.values()) / events, 2),
        "writer_cpu_us_per_event": {label: lowest(label, 2) for label in runs},
    }
    if server is None:
        result["server"] = "external ClickHouse: its CPU is not measured"
        return result
    insert = {label: lowest(label, 0) for label in runs}
    merge = {label: lowest(label, 1) for label in runs}
    total = {label: round(insert[label] + merge[label], 1) for label in runs}
    result["clickhouse_insert_us_per_event"] = insert
    result["clickhouse_final_merge_us_per_event"] = merge
    result["clickhouse_runs_us_per_event"] = {
        label: [[round(i * per_event, 1), round(m * per_event, 1)] for i, m, _ in r]
        for label, r in runs.items()
    }
    result["view_cost_us_per_event"] = {
        label.removeprefix("without "): {
            "insert": round(insert["shipped"] - insert[label], 1),
            "merge": round(merge["shipped"] - merge[label], 1),
        }
        for label in runs
        if label.startswith("without ")
    }
    shipped = total["shipped"]
    result["views_share"] = round(1 - total["no views"] / shipped, 3) if shipped else 0
    result["method"] = (
        "the engine's insert batches by the worker's writer, each pass into a fresh database (as "
        "shipped, without each view, without any) with merges stopped, then one OPTIMIZE FINAL "
        f"per table; ClickHouse's process CPU, lower of {rounds} rotating rounds"
    )
    return result


def suite(env, events=None, quick=False) -> dict:
    return bench_writes(env, events or (2_000 if quick else 50_000), rounds=1 if quick else ROUNDS)
