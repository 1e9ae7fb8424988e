"""The whole pipeline under a benchmark: events published up front, then worker processes
(`cityops worker`) started on them and timed until every event is stored or rejected, with the
workers' CPU and RSS and the servers' CPU per event."""

from __future__ import annotations

import asyncio

from cityops.bench.env import BenchEnv
from cityops.bench.events import publish_all
from cityops.bench.workers import (
    alive_check,
    cpu_seconds,
    measure,
    per_event,
    rss_bytes,
    services_cpu,
    start_workers,
    stop_workers,
    stored_count,
)
from cityops.schemas.topics import Topics
from cityops.storage.client import connect


def run_pipeline(
    env: BenchEnv, pairs, workers: int = 1, profile_seconds: float | None = None
) -> dict:
    """`profile_seconds`: sample the (first) worker's engine process with py-spy for that long
    from the moment events start arriving in ClickHouse (bench/profile.py)."""
    from cityops.bench.profile import Profiler

    settings, env_vars = env.isolated(f"pipeline{workers}")
    client = connect(settings.clickhouse)
    topic = Topics(settings.topic_prefix).events
    asyncio.run(publish_all(env.bootstrap, topic, pairs))
    procs = start_workers(env_vars, workers, settings.home)
    profilers: list[Profiler] = []

    def start_profile() -> None:
        if profile_seconds:
            profilers.append(Profiler(procs[0].pid, profile_seconds))

    try:
        before = cpu_seconds(procs)
        services_before = services_cpu(env)
        result = measure(
            client,
            settings.database,
            len(pairs),
            "events",
            deadline_s=900,
            with_rejects=True,
            alive=alive_check(procs, settings.home),
            on_start=start_profile,
        )
        result["services_cpu_us_per_event"] = per_event(env, services_before, len(pairs), result)
        if profilers:
            result["profile"] = profilers[0].summary()
        after = cpu_seconds(procs)
        result["worker_cpu_seconds"] = [round(c, 2) for c in after]
        result["worker_cpu_share_while_measured"] = [
            round((a - b) / max(result["seconds"], 1e-6), 2)
            for a, b in zip(after, before, strict=True)
        ]
        # CPU per event while measured (engine and bridge processes): robust on a shared machine.
        measured = max(len(pairs) - result["stored_at_start"], 1)
        result["worker_cpu_us_per_event"] = round(
            sum(a - b for a, b in zip(after, before, strict=True)) / measured * 1e6, 1
        )
        result["worker_rss_mb"] = [round(rss_bytes(p) / 2**20, 1) for p in procs]
        result["unique_ids_stored"] = stored_count(client, settings.database)
    finally:
        stop_workers(procs)
        client.disconnect()
    return result
