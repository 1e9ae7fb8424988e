"""`cityops bench memory`: peak RSS of one worker (engine and intake bridge) while it opens N
incidents, one per report (the simulator's `distinct_incidents`: distinct micro-grid and category
pairs), published up front."""

from __future__ import annotations

import asyncio
import time

import psutil

from cityops.bench.env import BenchEnv
from cityops.bench.events import one_incident_each, publish_all
from cityops.bench.workers import start_workers, stop_workers
from cityops.schemas.topics import Topics
from cityops.storage.client import connect


def suite(env: BenchEnv, events=None, quick=False) -> dict:
    n = events or (20_000 if quick else 1_000_000)
    settings, env_vars = env.isolated("memory")
    client = connect(settings.clickhouse)
    topic = Topics(settings.topic_prefix).events
    asyncio.run(publish_all(env.bootstrap, topic, one_incident_each(n, "mem")))
    procs = start_workers(env_vars, 1, settings.home)
    # Peak RSS of the engine process, of its bridge child(ren), and of both at one instant.
    peak = peak_engine = peak_bridge = engine_rss = bridge_rss = 0
    # (incidents stored, engine MB, bridge MB) every ~10 s: growth per incident vs fixed buffers
    series: list[tuple[int, float, float]] = []
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
                    (int(opened), round(engine_rss / 2**20, 1), round(bridge_rss / 2**20, 1))
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
        "rss_series": {"columns": ["incidents", "engine_mb", "bridge_mb"], "rows": series},
    }
