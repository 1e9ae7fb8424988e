"""`cityops bench disk [--quick] [--rates R ...]`: the disk a running stack needs.

A worker stores a steady load at each rate for a while; every few seconds the suite reads
`system.parts` of the run's database: active parts (the data) and inactive ones (merged away,
kept on disk until `old_parts_lifetime` passes: the churn). Per rate:

- inserts_per_s: parts created per second (new parts seen between samples, level 0);
- active_bytes_per_hour: the data's growth, extrapolated from the run (an upper bound: merges
  go on compacting after it);
- inactive_bytes_max / inactive_parts_max: the churn's plateau, which does not grow with time
  once parts older than `old_parts_lifetime` are removed;
- disk_gb_per_hour: active growth per hour plus the churn's plateau.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

from cityops.bench.env import BenchEnv
from cityops.bench.latency import paced_publish, valid_mix
from cityops.bench.workers import start_workers, stop_workers
from cityops.schemas.topics import Topics
from cityops.storage.client import connect

SAMPLE_SECONDS = 5.0


def parts_sample(client, database: str) -> dict:
    """Active and inactive parts of `database`: counts, bytes, and the names of level-0 parts."""
    rows = client.execute(
        "SELECT active, count(), sum(bytes_on_disk), groupArray(if(level = 0, name, '')) "
        "FROM system.parts WHERE database = %(db)s GROUP BY active",
        {"db": database},
    )
    out: dict = {"active_parts": 0, "active_bytes": 0, "inactive_parts": 0, "inactive_bytes": 0}
    fresh: set[str] = set()
    for active, parts, size, names in rows:
        kind = "active" if active else "inactive"
        out[f"{kind}_parts"], out[f"{kind}_bytes"] = int(parts), int(size)
        fresh.update(n for n in names if n)
    out["level0"] = fresh
    return out


def disk_at(env: BenchEnv, rate: float, seconds: float) -> dict:
    settings, env_vars = env.isolated(f"disk{int(rate)}")
    client = connect(settings.clickhouse)
    topic = Topics(settings.topic_prefix).events
    procs = start_workers(env_vars, 1, settings.home)
    items = valid_mix(int(rate * seconds), f"dk{uuid.uuid4().hex[:5]}")
    sent_at: dict[str, float] = {}
    samples: list[dict] = []
    created: set[str] = set()
    try:
        publisher = threading.Thread(
            target=asyncio.run,
            args=(paced_publish(env.bootstrap, topic, items, rate, sent_at),),
            daemon=True,
        )
        began = time.monotonic()
        publisher.start()
        while time.monotonic() - began < seconds:
            time.sleep(SAMPLE_SECONDS)
            sample = parts_sample(client, settings.database)
            created |= sample.pop("level0")
            samples.append({"at_s": round(time.monotonic() - began, 1), **sample})
        publisher.join(timeout=30)
        stored = client.execute(f"SELECT count() FROM {settings.database}.events")[0][0]
    finally:
        stop_workers(procs)
        client.disconnect()
    elapsed = samples[-1]["at_s"] if samples else seconds
    last = samples[-1] if samples else {}
    inactive_max = max((s["inactive_bytes"] for s in samples), default=0)
    active_per_hour = last.get("active_bytes", 0) / elapsed * 3600
    return {
        "rate": rate,
        "seconds": round(elapsed, 1),
        "events_sent": len(sent_at),
        "events_stored": int(stored),
        "inserts_per_s": round(len(created) / elapsed, 1),
        "active_parts_end": last.get("active_parts"),
        "active_bytes_end": last.get("active_bytes"),
        "active_bytes_per_event": round(last.get("active_bytes", 0) / max(1, stored), 1),
        "inactive_parts_max": max((s["inactive_parts"] for s in samples), default=0),
        "inactive_bytes_max": inactive_max,
        "active_gb_per_hour": round(active_per_hour / 1e9, 3),
        "disk_gb_per_hour": round((active_per_hour + inactive_max) / 1e9, 3),
        "samples": samples,
    }


def suite(env: BenchEnv, events=None, quick=False, rates=None) -> dict:
    """200 and 2,000 events/s for 180 s each (quick: 200/s for 40 s)."""
    rates = rates or ((200,) if quick else (200, 2000))
    seconds = 40.0 if quick else 180.0
    return {
        "method": (
            f"one worker stores a steady valid load for {seconds:.0f} s per rate; "
            "system.parts of its database sampled every 5 s"
        ),
        "runs": [disk_at(env, float(rate), seconds) for rate in rates],
    }
