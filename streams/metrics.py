"""A worker's metrics (prometheus-client, one registry per worker process).

The intake bridge runs in a child process: its counters live in shared memory the worker
allocates (`BridgeCounters`, a RawArray handed to the child at its start), so they survive a
restart of the child and the worker's /metrics reads them without any file or extra channel.
The engine counts with ordinary metrics in the worker process; ClickHouse insert errors are
read from the writer's own tally; consumer lag per partition comes from the broker (cached).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import sys
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from cityops.streams.tuning import libc

COMMIT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class BridgeCounters:
    """Event counts and per-partition lag of the intake bridge, in memory shared with the worker
    (one writer: the bridge; 64-bit slots, so a reader never sees half an update). A lag slot
    is -1 while the partition is not this bridge's."""

    FIELDS = ("events_in", "rejected", "bundles")

    def __init__(self, partitions: int, context=None) -> None:
        ctx = context or multiprocessing.get_context("spawn")
        self.slots = ctx.RawArray("q", len(self.FIELDS))
        self.lag = ctx.RawArray("q", [-1] * partitions)
        # Wall-clock time of the bridge's last finished step (or failed one): the worker
        # restarts a bridge that stops stepping (streams/bridge_process.py `stalled`).
        self._beat = ctx.RawValue("d", time.time())

    def beat(self, now: float | None = None) -> None:
        self._beat.value = time.time() if now is None else now

    @property
    def last_beat(self) -> float:
        return self._beat.value

    def set_lags(self, lags: dict[int, int]) -> None:
        """The lag of each partition the bridge holds now; every other slot becomes -1."""
        for partition in range(len(self.lag)):
            self.lag[partition] = lags.get(partition, -1)

    def lags(self) -> dict[int, int]:
        return {p: lag for p, lag in enumerate(list(self.lag)) if lag >= 0}

    def add(self, events_in: int = 0, rejected: int = 0, bundles: int = 0) -> None:
        slots = self.slots
        slots[0] += events_in
        slots[1] += rejected
        slots[2] += bundles

    def snapshot(self) -> dict[str, int]:
        return dict(zip(self.FIELDS, list(self.slots), strict=True))


class EngineMetrics:
    """What the incident engine's commits count (streams/incidents/agent.py calls `landed`)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.rows_stored = Counter(
            "cityops_worker_rows_stored_total",
            "Rows the worker stored in ClickHouse, by table",
            ["table"],
            registry=self.registry,
        )
        self.events_stored = Counter(
            "cityops_worker_events_stored_total",
            "Valid events the worker stored in ClickHouse (rows of the events table)",
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "cityops_worker_commit_duration_seconds",
            "Time of one engine commit: ClickHouse inserts, messages sent, bundles acked",
            buckets=COMMIT_BUCKETS,
            registry=self.registry,
        )

    def landed(self, sizes: dict[str, int], seconds: float) -> None:
        for table, rows in sizes.items():
            self.rows_stored.labels(table).inc(rows)
        self.events_stored.inc(sizes.get("events", 0))
        self.commit_seconds.observe(seconds)


def engine_lags(consumer, topic: str) -> dict[int, int]:
    """{partition: fetch high watermark minus committed offset} of the bundle partitions this
    worker's Faust consumer holds (read from another thread: a partition that moves away
    meanwhile is left out)."""
    from cityops.streams.faust_patches import committed_offset

    lags: dict[int, int] = {}
    try:
        assigned = [tp for tp in list(consumer.assignment()) if tp.topic == topic]
    except Exception:  # noqa: BLE001 - not started or rebalancing: nothing to report
        return lags
    for tp in assigned:
        try:
            high = consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - revoked meanwhile
            continue
        if high is not None:
            lags[tp.partition] = max(0, high - committed_offset(consumer, tp))
    return lags


class WorkerCollector:
    """Values read at scrape time: the bridge's shared counters, the writer's insert errors,
    the engine's bundle count, and the consumer lag per partition (from `lag`)."""

    def __init__(self, runtime, bridge_counters: BridgeCounters, bridge, lag: Callable) -> None:
        self.runtime, self.counters, self.bridge, self.lag = runtime, bridge_counters, bridge, lag

    def describe(self):
        return []

    def collect(self):
        counts = self.counters.snapshot()
        for name, key, text in (
            ("cityops_worker_events_in", "events_in", "Events the intake bridge read"),
            ("cityops_worker_events_rejected", "rejected", "Events the bridge refused"),
            ("cityops_worker_bundles_sent", "bundles", "Bundles the bridge sent to the engine"),
        ):
            yield CounterMetricFamily(name, text, value=counts[key])
        yield CounterMetricFamily(
            "cityops_worker_bridge_restarts",
            "Restarts of the intake bridge process",
            value=getattr(self.bridge, "restarts", 0),
        )
        yield CounterMetricFamily(
            "cityops_worker_bundles_applied",
            "Bundles the incident engine applied",
            value=self.runtime.bundles,
        )
        errors = CounterMetricFamily(
            "cityops_clickhouse_insert_errors",
            "Failed ClickHouse inserts (each is retried), by table",
            labels=["table"],
        )
        for table, count in sorted(dict(self.runtime.writer.insert_errors).items()):
            errors.add_metric([table], count)
        yield errors
        lags = self.lag()
        gauge = GaugeMetricFamily(
            "cityops_consumer_lag_messages",
            "Messages behind the end of each partition this worker consumes, by consumer group",
            labels=["group", "topic", "partition"],
        )
        for (group, topic, partition), value in sorted(lags.items()):
            gauge.add_metric([group, topic, str(partition)], value)
        yield gauge
        yield GaugeMetricFamily(
            "cityops_worker_up_seconds", "Seconds since the worker started", value=_uptime()
        )
        yield from memory_families(getattr(self.runtime, "app", None))


# RocksDB's memory per open table partition, summed over a worker's partitions. (Block cache
# properties are not summed: every partition reports the one shared cache; `shared_cache_usage`.)
ROCKSDB_PROPERTIES = {
    "memtables": "rocksdb.cur-size-all-mem-tables",
    "table_readers": "rocksdb.estimate-table-readers-mem",
}


def memory_families(app):
    """Where a worker's memory is: RocksDB (memtables, table readers outside the block cache, the
    shared block cache), glibc's heap (in use, free but kept, in mappings of their own) and
    Python's allocated blocks. Read at scrape time, so the RSS of a worker can be taken apart
    while it runs (bench memory samples it with the RSS)."""
    rocks = GaugeMetricFamily(
        "cityops_worker_rocksdb_bytes",
        "RocksDB memory of the worker's tables, by kind (block_cache: the one shared cache)",
        labels=["kind"],
    )
    for kind, value in sorted(rocksdb_memory(app).items()):
        rocks.add_metric([kind], value)
    yield rocks
    heap = GaugeMetricFamily(
        "cityops_worker_heap_bytes",
        "glibc malloc's heap of the worker process, by kind (in_use, free, mmapped)",
        labels=["kind"],
    )
    for kind, value in sorted(glibc_heap().items()):
        heap.add_metric([kind], value)
    yield heap
    yield GaugeMetricFamily(
        "cityops_worker_python_blocks",
        "Memory blocks Python's allocator has handed out (sys.getallocatedblocks)",
        value=sys.getallocatedblocks(),
    )


def rocksdb_memory(app) -> dict[str, int]:
    """{kind: bytes} over the RocksDB partitions the worker's tables have open (none: {})."""
    from cityops.streams.incidents.store import open_databases, shared_cache_usage

    totals = dict.fromkeys(ROCKSDB_PROPERTIES, 0)
    tables = getattr(app, "tables", None)
    for table in list(tables.values()) if tables is not None else ():
        for db in open_databases(table):
            for kind, name in ROCKSDB_PROPERTIES.items():
                try:
                    totals[kind] += int(db.property_int_value(name) or 0)
                except Exception:  # noqa: BLE001 - closed meanwhile (a rebalance)
                    continue
    usage = shared_cache_usage()
    if usage is not None:
        totals["block_cache"] = usage
    return totals


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
            "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def glibc_heap() -> dict[str, int]:
    """glibc's mallinfo2 (2.33+): bytes in use, free but held, in mmapped chunks; {} elsewhere."""
    mallinfo2 = getattr(libc(), "mallinfo2", None)
    if mallinfo2 is None:
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {"in_use": info.uordblks, "free": info.fordblks, "mmapped": info.hblkhd}


_STARTED = time.monotonic()


def _uptime() -> float:
    return round(time.monotonic() - _STARTED, 3)
