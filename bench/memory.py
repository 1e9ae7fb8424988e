"""`cityops bench memory`: peak RSS of one worker (engine and intake bridge) while it opens N
incidents, one per report (the simulator's `distinct_incidents`: distinct micro-grid and category
pairs), published up front."""

from __future__ import annotations

import asyncio
import time
import urllib.request

import psutil
from prometheus_client.parser import text_string_to_metric_families

from cityops.bench.env import BenchEnv
from cityops.bench.events import one_incident_each, publish_all
from cityops.bench.workers import start_workers, stop_workers
from cityops.deploy.processes import free_port
from cityops.schemas.topics import Topics
from cityops.storage.client import connect


def suite(env: BenchEnv, events=None, quick=False) -> dict:
    n = events or (20_000 if quick else 1_000_000)
    settings, env_vars = env.isolated("memory")
    client = connect(settings.clickhouse)
    topic = Topics(settings.topic_prefix).events
    asyncio.run(publish_all(env.bootstrap, topic, one_incident_each(n, "mem")))
    port = free_port()
    procs = start_workers({**env_vars, "CITYOPS_WORKER_HTTP_PORT": str(port)}, 1, settings.home)
    # Peak RSS of the engine process, of its bridge child(ren), and of both at one instant.
    peak = peak_engine = peak_bridge = engine_rss = bridge_rss = 0
    # (incidents stored, engine MB, bridge MB, then the engine's own breakdown in MB: RocksDB
    # block cache, memtables, table readers; glibc heap in use, free, mmapped) every ~10 s:
    # growth per incident vs fixed buffers, and which part of the process holds it
    series: list[tuple] = []
    started = last_sample = time.monotonic()
    try:
        while True:
            try:
                engine = psutil.Process(procs[0].pid)
                engine_rss = engine.memory_info().rss
                bridge_rss = sum(p.memory_info().rss for p in engine.children(True))
                peak_engine = max(peak_engine, engine_rss)
                peak_bridge = max(peak_bridge, bridge_rss)
                peak = max(peak, engine_rss + bridge_rss)
            except psutil.Error:
                pass
            opened = client.execute(
                f"SELECT uniqExact(incident_id) FROM {settings.database}.incidents"
            )[0][0]
            if time.monotonic() - last_sample >= 10:
                last_sample = time.monotonic()
                series.append(
                    (
                        int(opened),
                        round(engine_rss / 2**20, 1),
                        round(bridge_rss / 2**20, 1),
                        *worker_memory(port),
                    )
                )
            if opened >= n:
                break
            if time.monotonic() - started > 1800:
                raise TimeoutError(f"only {opened} of {n} incidents stored in 30 minutes")
            time.sleep(0.5)
        open_now = client.execute(
            f"SELECT count() FROM {settings.database}.incidents_current "
            "WHERE status NOT IN ('resolved', 'closed')"
        )[0][0]
    finally:
        stop_workers(procs)
        client.disconnect()
    return {
        "open_incidents": int(open_now),
        "events": n,
        "peak_rss_mb": round(peak / 2**20, 1),
        "peak_rss_engine_mb": round(peak_engine / 2**20, 1),
        "peak_rss_bridge_mb": round(peak_bridge / 2**20, 1),
        "seconds": round(time.monotonic() - started, 1),
        "rss_series": {
            "columns": ["incidents", "engine_mb", "bridge_mb", *BREAKDOWN],
            "rows": series,
        },
    }


BREAKDOWN = (
    "rocksdb_block_cache_mb",
    "rocksdb_memtables_mb",
    "rocksdb_table_readers_mb",
    "heap_in_use_mb",
    "heap_free_mb",
    "heap_mmapped_mb",
)


def worker_memory(port: int) -> tuple[float | None, ...]:
    """The engine's memory breakdown (MB, in BREAKDOWN's order) from its /metrics; None for a
    value the worker did not answer (not started yet, or not glibc)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
            text = reply.read().decode()
    except OSError:
        return (None,) * len(BREAKDOWN)
    values = {
        f"{sample.name.split('_')[2]}_{sample.labels['kind']}_mb": sample.value / 2**20
        for family in text_string_to_metric_families(text)
        if family.name in ("cityops_worker_rocksdb_bytes", "cityops_worker_heap_bytes")
        for sample in family.samples
    }
    return tuple(round(values[name], 1) if name in values else None for name in BREAKDOWN)
