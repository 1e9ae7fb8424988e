"""Deterministic generation of grids (网格) and micro-grids (微网格) below each community.

The source data stops at communities; the registry (schemas/registry.py) fills in the two lowest
levels from the community codes alone, so every run and machine gets the same codes (CONTRACT §2).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# Nanjing's published number of micro-grids.
MICRO_GRID_TOTAL = 40_976
MIN_HOUSEHOLDS, MAX_HOUSEHOLDS = 50, 100

# Dedicated grids (专属网格) cover one institution: (name in the grid's name, kind).
DEDICATED_KINDS = (
    ("学校", "school"),
    ("医院", "hospital"),
    ("企业", "enterprise"),
    ("产业园区", "industrial_park"),
    ("商圈", "shopping_area"),
)
DEDICATED_SHARE = 0.35


@dataclass(frozen=True, slots=True)
class GridSpec:
    code: str
    name_zh: str
    grid_type: str  # "comprehensive" | "dedicated"
    households: tuple[int, ...]  # one entry per micro-grid, in code order


@dataclass(frozen=True, slots=True)
class GridPlan:
    community: str
    grids: tuple[GridSpec, ...]


def unit_hash(key: str) -> float:
    """A stable number in [0, 1) for a key; the seed of every generated property."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def allocate_micro_grids(communities: list[str]) -> dict[str, int]:
    """Shares MICRO_GRID_TOTAL among communities by hashed weights (largest remainder)."""
    weights = [0.5 + unit_hash(f"{code}/size") for code in communities]
    scale = MICRO_GRID_TOTAL / sum(weights)
    exact = [w * scale for w in weights]
    counts = [int(x) for x in exact]
    left = MICRO_GRID_TOTAL - sum(counts)
    # ties broken by position so the result never depends on float noise in sorting
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[:left]:
        counts[i] += 1
    return dict(zip(communities, counts, strict=True))


def plan_community(code: str, micro_grids: int) -> GridPlan:
    """Splits a community's micro-grids over 1..n grids; some communities get a dedicated grid."""
    per_grid = 5 + int(unit_hash(f"{code}/per_grid") * 5)  # 5..9 micro-grids per grid
    n_grids = min(99, max(1, round(micro_grids / per_grid)))
    dedicated = n_grids >= 2 and unit_hash(f"{code}/dedicated") < DEDICATED_SHARE
    kind_zh = DEDICATED_KINDS[int(unit_hash(f"{code}/kind") * len(DEDICATED_KINDS))][0]

    grids: list[GridSpec] = []
    base, extra = divmod(micro_grids, n_grids)
    for g_index in range(1, n_grids + 1):
        g_code = f"{code}{g_index:02d}"
        size = base + (1 if g_index <= extra else 0)
        households = tuple(
            MIN_HOUSEHOLDS
            + int(unit_hash(f"{g_code}{m:02d}") * (MAX_HOUSEHOLDS - MIN_HOUSEHOLDS + 1))
            for m in range(1, size + 1)
        )
        if dedicated and g_index == n_grids:
            grids.append(GridSpec(g_code, f"专属网格（{kind_zh}）", "dedicated", households))
        else:
            grids.append(GridSpec(g_code, f"第{g_index}网格", "comprehensive", households))
    return GridPlan(code, tuple(grids))
