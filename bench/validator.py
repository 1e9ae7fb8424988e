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

`district_lookup` times the coordinates-to-district lookup alone (schemas/geo.py), per point:
random points over downtown Nanjing, over the city's bounding box (half of them outside the
city), and Xinjiekou (a point in the sliver between simplified polygons, snapped to the
nearest district since 2026-12-06; it was "outside the city" before).
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


def bench_district_lookup(n: int = 50_000, repeats: int = 5) -> dict:
    """µs per district_at call (best of `repeats`) and the share of points with no district."""
    import random

    registry = load_registry()
    rng = random.Random(3)
    min_lat, min_lon, max_lat, max_lon = registry.city_bbox()
    areas = {
        "downtown": (31.98, 118.72, 32.10, 118.86),
        "city_bbox": (min_lat, min_lon, max_lat, max_lon),
    }
    sets = {
        name: [(rng.uniform(a, c), rng.uniform(b, d)) for _ in range(n)]
        for name, (a, b, c, d) in areas.items()
    }
    sets["xinjiekou"] = [(32.0415, 118.7845)] * (n // 10)
    result = {}
    for name, points in sets.items():
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for lat, lon in points:
                registry.district_at(lat, lon)
            best = min(best, time.perf_counter() - start)
        outside = sum(registry.district_at(lat, lon) is None for lat, lon in points)
        result[name] = {
            "us_per_lookup": round(best / len(points) * 1e6, 2),
            "no_district": round(outside / len(points), 4),
        }
    return result


def suite(env, events=None, quick=False) -> dict:
    result = bench_validator(events or (5_000 if quick else 200_000))
    result["district_lookup"] = bench_district_lookup(5_000 if quick else 50_000)
    return result


if __name__ == "__main__":
    print(json.dumps(bench_validator(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)))
