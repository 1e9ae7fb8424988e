"""The city registry: Nanjing's five-level grid system (CONTRACT §2) as one read-only lookup object.

Districts, streets and communities come from schemas/data; grids and micro-grids are generated from
their codes (schemas/gridgen.py). Everything downstream (validation, routing, the map) asks this.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cityops.schemas.geo import DistrictShapes, jitter
from cityops.schemas.gridgen import MICRO_GRID_TOTAL, GridPlan, allocate_micro_grids, plan_community

DATA_DIR = Path(__file__).parent / "data"
CITY_CODE = "320100"
LEVELS = ("city", "district", "street", "community", "grid", "micro_grid")

# How far (degrees) a unit's representative point may stray from its parent's point.
_SPREAD = {"community": 0.025, "grid": 0.004, "micro_grid": 0.001}


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    level: str
    parent: str | None
    name_zh: str
    name_en: str | None
    households: int = 0
    grid_type: str | None = None


class Registry:
    """Lookups over every unit of the city, from the city down to its 40,976 micro-grids."""

    def __init__(self, units: dict[str, Unit], shapes: DistrictShapes) -> None:
        self._units = units
        self._shapes = shapes
        # Only units with children have an entry: 40,976 micro-grids need no empty list each.
        self._children: dict[str, list[str]] = {}
        for unit in units.values():
            if unit.parent is not None:
                self._children.setdefault(unit.parent, []).append(unit.code)
        self._ordered = sorted(units)
        self._points: dict[str, tuple[float, float]] = {}

    # -- codes -------------------------------------------------------------------------------
    def unit(self, code: str) -> Unit | None:
        return self._units.get(code)

    def chain(self, code: str) -> list[Unit]:
        """The unit and all its ancestors, city first; empty for an unknown code."""
        chain: list[Unit] = []
        unit = self._units.get(code)
        while unit is not None:
            chain.append(unit)
            unit = self._units.get(unit.parent) if unit.parent is not None else None
        chain.reverse()
        return chain

    def children(self, code: str) -> list[Unit]:
        return [self._units[child] for child in self._children.get(code, ())]

    def contains(self, ancestor_code: str, code: str) -> bool:
        """True when `code` is `ancestor_code` itself or lies below it."""
        unit = self._units.get(code)
        while unit is not None:
            if unit.code == ancestor_code:
                return True
            unit = self._units.get(unit.parent) if unit.parent is not None else None
        return False

    def units(self, kind: str | None = None) -> Iterator[Unit]:
        """Every unit (or every unit of one level) in code order."""
        for code in self._ordered:
            unit = self._units[code]
            if kind is None or unit.level == kind:
                yield unit

    def districts(self) -> list[Unit]:
        return self.children(CITY_CODE)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(LEVELS, 0)
        for unit in self._units.values():
            counts[unit.level] += 1
        return counts

    # -- geography ---------------------------------------------------------------------------
    def district_at(self, lat: float, lon: float) -> str | None:
        """The district of a point; a point in a gap between the simplified boundaries goes to
        the nearest district within geo.SNAP_TOLERANCE_M; None outside the city."""
        return self._shapes.district_at(lat, lon)

    def distance_to_district_m(self, lat: float, lon: float, code: str) -> float:
        """Metres from a point to a district's boundary polygon (0 inside, inf if far)."""
        return self._shapes.distance_m(lat, lon, code)

    def city_bbox(self) -> tuple[float, float, float, float]:
        """(min_lat, min_lon, max_lat, max_lon) of all district boundaries."""
        return self._shapes.bbox

    def point(self, code: str) -> tuple[float, float]:
        """A deterministic (lat, lon) for a unit, always inside its district's boundary.

        Raises KeyError for an unknown code."""
        cached = self._points.get(code)
        if cached is not None:
            return cached
        unit = self._units.get(code)
        if unit is None:
            raise KeyError(code)
        if unit.level == "city":
            # the old city centre (玄武区), where the wall map centres by default
            point = self._shapes.label(self.districts()[0].code)
        elif unit.level == "district":
            point = self._shapes.label(code)
        else:
            district = code[:6]
            if unit.level == "street":
                point = self._shapes.random_point(district, seed=code)
            else:
                origin = self.point(unit.parent or district)
                point = self._near(district, origin, _SPREAD[unit.level], code)
        self._points[code] = point
        return point

    def _near(
        self, district: str, origin: tuple[float, float], spread: float, code: str
    ) -> tuple[float, float]:
        # Deterministic jitter around the parent's point, accepted only inside the district.
        for attempt in range(16):
            dlat, dlon = jitter(f"{code}/{attempt}")
            lat = origin[0] + dlat * spread
            lon = origin[1] + dlon * spread
            if self._shapes.strict_district_at(lat, lon) == district:
                return (round(lat, 6), round(lon, 6))
        return origin


def _build_units(divisions: dict[str, Any]) -> dict[str, Unit]:
    city = divisions["city"]
    # (code, street code, name) of every community, in file order
    communities = [
        (f"{district['adcode']}{s_index:03d}{c_index:03d}", name_zh)
        for district in divisions["districts"]
        for s_index, street in enumerate(district["streets"], start=1)
        for c_index, name_zh in enumerate(street["communities"], start=1)
    ]
    quotas = allocate_micro_grids([code for code, _ in communities])
    names = dict(communities)

    units: dict[str, Unit] = {}
    city_households = 0
    for district in divisions["districts"]:
        d_code = district["adcode"]
        d_households = 0
        for s_index, street in enumerate(district["streets"], start=1):
            s_code = f"{d_code}{s_index:03d}"
            s_households = 0
            for c_index in range(1, len(street["communities"]) + 1):
                c_code = f"{s_code}{c_index:03d}"
                s_households += _add_community(units, c_code, s_code, names[c_code], quotas[c_code])
            units[s_code] = Unit(s_code, "street", d_code, street["name_zh"], None, s_households)
            d_households += s_households
        units[d_code] = Unit(
            d_code, "district", CITY_CODE, district["name_zh"], district["name_en"], d_households
        )
        city_households += d_households
    units[CITY_CODE] = Unit(
        CITY_CODE, "city", None, city["name_zh"], city["name_en"], city_households
    )
    return units


def _add_community(
    units: dict[str, Unit], code: str, street: str, name_zh: str, micro_grids: int
) -> int:
    """Adds a community with its generated grids and micro-grids; returns its households."""
    plan: GridPlan = plan_community(code, micro_grids)
    total = 0
    for grid in plan.grids:
        grid_households = sum(grid.households)
        total += grid_households
        for m_index, households in enumerate(grid.households, start=1):
            m_code = f"{grid.code}{m_index:02d}"
            units[m_code] = Unit(
                m_code, "micro_grid", grid.code, _micro_grid_name(m_index), None, households
            )
        units[grid.code] = Unit(
            grid.code, "grid", code, grid.name_zh, None, grid_households, grid.grid_type
        )
    units[code] = Unit(code, "community", street, name_zh, None, total)
    return total


@cache
def _micro_grid_name(index: int) -> str:
    """第N微网格, one string per N for the whole city (a few dozen instead of 40,976)."""
    return f"第{index}微网格"


def build_registry(data_dir: Path = DATA_DIR) -> Registry:
    """A fresh registry from the data files (no cache); load_registry() is the cached one."""
    divisions = json.loads((data_dir / "nanjing_divisions.json").read_text(encoding="utf-8"))
    geojson = json.loads((data_dir / "nanjing_districts.geojson").read_text(encoding="utf-8"))
    units = _build_units(divisions)
    _check_micro_grid_total(units)
    return Registry(units, DistrictShapes.from_geojson(geojson))


def _check_micro_grid_total(units: dict[str, Unit]) -> None:
    found = sum(1 for u in units.values() if u.level == "micro_grid")
    if found != MICRO_GRID_TOTAL:
        raise RuntimeError(f"generated {found} micro-grids, expected {MICRO_GRID_TOTAL}")


@cache
def load_registry() -> Registry:
    return build_registry()
