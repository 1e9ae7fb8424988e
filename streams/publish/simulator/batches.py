"""Fixed batches of report events for benchmarks and tests, from the simulator's own builder
(`Generator`, `report_data`, `envelope`): numbered ids, and reports that each open their own
incident. Pure: the same arguments give the same events (up to `start`/`now` when defaulted).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from cityops.schemas.registry import Registry, load_registry
from cityops.schemas.taxonomy import CATEGORIES
from cityops.streams.publish.simulator.run import envelope, generate
from cityops.streams.publish.simulator.traffic import report_data


def numbered_reports(
    n: int,
    seed: int = 7,
    *,
    run: str = "bench",
    start: datetime | None = None,
    interval: float = 0.001,
    scenario: str = "normal",
    registry: Registry | None = None,
) -> list[dict[str, Any]]:
    """The first `n` events of a seed and scenario, `interval` seconds apart from `start` (default
    half an hour ago), with ids `<run>-<i>` so a test or benchmark can find its own."""
    start = start or datetime.now(UTC) - timedelta(minutes=30)
    events = generate(seed, scenario, start, n, interval=interval, registry=registry)
    for number, event in enumerate(events):
        event["id"] = f"{run}-{number}"
    return events


def distinct_incidents(
    n: int, tag: str, *, now: datetime | None = None, registry: Registry | None = None
) -> list[dict[str, Any]]:
    """`n` grid-patrol reports (ids `<tag>-<i>`) that each open their own incident: every one a
    distinct (micro-grid, category) pair, micro-grids first, categories of severity 1–2 only.
    Locations name the whole chain down to the micro-grid, without coordinates."""
    registry = registry or load_registry()
    micro_grids = list(registry.units("micro_grid"))
    categories = [c for c in CATEGORIES.values() if c.default_severity <= 2] or list(
        CATEGORIES.values()
    )
    if n > len(micro_grids) * len(categories):
        raise ValueError(f"at most {len(micro_grids) * len(categories)} distinct incidents")
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    rng = random.Random(tag)  # unused by report_data when severity and title are given
    out = []
    for i in range(n):
        micro_grid = micro_grids[i % len(micro_grids)].code
        category = categories[i // len(micro_grids)]
        chain = [u.code for u in registry.chain(micro_grid)]
        levels = ("district", "street", "community", "grid", "micro_grid")
        location = dict(zip(levels, chain[1:], strict=True))  # chain[0] is the city
        data = report_data(
            rng,
            "grid_patrol",
            category.code,
            location,
            severity=category.default_severity,
            title=f"{category.name_zh} #{i}",
        )
        out.append(envelope(data, f"{tag}-{i}", now))
    return out
