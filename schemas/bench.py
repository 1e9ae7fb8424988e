"""Benchmark of the validator (schemas/events.py) on one core over a realistic mix of reports.

`python -m schemas.bench [N]` prints {"events", "eps", "us_per_event"}; the target is at
least 50,000 typical reports per second.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta

import msgspec

from schemas.event_types import CHANNELS, REPORT_TYPE
from schemas.gridgen import unit_hash
from schemas.registry import Registry, load_registry
from schemas.taxonomy import CATEGORIES

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
_TITLES = (
    "路面积水严重，车辆无法通行",
    "小区垃圾未及时清运",
    "夜间施工噪声扰民",
    "路灯不亮",
    "井盖缺失",
)
_DESCRIPTION = "市民来电反映：该处问题已持续两天，影响居民出行，请尽快处理。联系人要求回访。"


def sample_reports(n: int, registry: Registry | None = None) -> list[bytes]:
    """n structured report events spread over the city's micro-grids (deterministic)."""
    registry = registry or load_registry()
    micro_grids = [u.code for u in registry.units("micro_grid")]
    categories = sorted(CATEGORIES)
    # a few thousand distinct documents, repeated: 100k unique ones would time the builder
    distinct = min(n, 5000)
    documents = []
    for i in range(distinct):
        h = unit_hash(f"bench/{i}")
        micro_grid = micro_grids[int(h * len(micro_grids))]
        location: dict[str, object] = {"district": micro_grid[:6], "street": micro_grid[:9]}
        if i % 2 == 0:
            location |= {
                "community": micro_grid[:12],
                "grid": micro_grid[:14],
                "micro_grid": micro_grid,
            }
        if i % 3 == 0:
            lat, lon = registry.point(micro_grid)
            location |= {"lat": lat, "lon": lon, "address": "中山路100号附近"}
        data = {
            "channel": CHANNELS[i % len(CHANNELS)],
            "category": categories[i % len(categories)],
            "severity": 1 + i % 4,
            "title": _TITLES[i % len(_TITLES)],
            "description": _DESCRIPTION,
            "location": location,
            "external_ref": f"12345-2025-{i:08d}",
        }
        event = {
            "specversion": "1.0",
            "id": f"bench-{i:08d}",
            "source": "/departments/hotline12345",
            "type": REPORT_TYPE,
            "time": (NOW - timedelta(seconds=i)).isoformat(),
            "datacontenttype": "application/json",
            "partitionkey": micro_grid[:9],
            "data": data,
        }
        documents.append(msgspec.json.encode(event))
    return [documents[i % distinct] for i in range(n)]


def bench_validator(n: int = 100_000) -> dict:
    from schemas.events import parse_event

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


if __name__ == "__main__":
    print(json.dumps(bench_validator(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)))
