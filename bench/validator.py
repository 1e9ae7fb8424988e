"""`cityops bench validator`: the validator (schemas/events.py) on one core over the simulator's
everyday mix of reports. `python -m cityops.bench.validator [N]` prints {"events", "eps",
"us_per_event", "bytes_per_event"}; the target is at least 50,000 typical reports per second.

The reports are the simulator's (`generate`, seed 7): a few thousand distinct documents, repeated
(100k unique ones would time the builder). Until 2026-12-06 the suite built its own reports
(uniform categories and severities, coordinates on a third, the full grid chain on half, a long
description on each); the simulator's everyday mix names the chain down to the micro-grid with
coordinates and an address on almost every report, and adds reporter hashes and sensor readings.
That costs the validator more, so results from before that date are not comparable as they are:
the same code, both mixes timed alternately in one process (100,000 events, CPU time) gave
6.9–7.2 µs per event on the old reports and 9.9–10.1 µs on the simulator's (×1.4); 621 bytes per
event against 591. bench/results/validator.json (2026-11-27, 12.15 µs per event) is of the old
reports: re-measure on a quiet machine before comparing a new result with it.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta

import msgspec

from cityops.schemas.registry import Registry, load_registry
from cityops.streams.publish.simulator.run import generate

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
INTERVAL = 0.5  # seconds of city time between the reports, all before NOW
DISTINCT = 5000


def sample_reports(n: int, registry: Registry | None = None) -> list[bytes]:
    """n encoded reports of the simulator (deterministic), DISTINCT at most, repeated."""
    distinct = min(n, DISTINCT)
    start = NOW - timedelta(seconds=distinct * INTERVAL)
    events = generate(7, "normal", start, distinct, interval=INTERVAL, registry=registry)
    documents = [msgspec.json.encode(event) for event in events]
    return [documents[i % distinct] for i in range(n)]


def bench_validator(n: int = 100_000) -> dict:
    from cityops.schemas.events import parse_event

    registry = load_registry()
    payloads = sample_reports(n, registry)
    for payload in payloads[:2000]:  # warm the registry's caches
        parse_event(payload, now=NOW, registry=registry)
    start = time.perf_counter()
    for payload in payloads:
        parse_event(payload, now=NOW, registry=registry)
    elapsed = time.perf_counter() - start
    return {
        "events": n,
        "eps": round(n / elapsed),
        "us_per_event": round(elapsed / n * 1e6, 2),
        "bytes_per_event": round(sum(len(p) for p in payloads) / n),
    }


def suite(env, events=None, quick=False) -> dict:
    return bench_validator(events or (5_000 if quick else 200_000))


if __name__ == "__main__":
    print(json.dumps(bench_validator(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)))
