"""District boundaries of the sample city: point-in-polygon and deterministic points inside.

Pure Python (ray casting, bbox prefilter, a cell cache for the hot path); used by the registry
(schemas/registry.py) and, through it, by the event validator for reports with coordinates.

The boundaries are simplified per polygon (schemas/data/ATTRIBUTION.md: 0.0015°, about 150 m),
so neighbouring districts leave slivers of no-man's-land along their shared borders (measured:
0.7–1.2 % of downtown points, up to about 60 m from the nearest polygon; Xinjiekou is one).
`district_at` snaps a point that falls in no polygon to the nearest district polygon when that
is at most SNAP_TOLERANCE_M away; a point farther out is outside the city (None).
`strict_district_at` is the polygon test alone (for generated points, which must lie inside).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cityops.schemas.gridgen import unit_hash

# Cell size (degrees) of the lookup cache: a cell no boundary crosses has one answer
# for all its points.
_CELL = 0.01
# A point in no polygon belongs to the nearest district within this distance (metres): well
# above the simplification's error (about 150 m), well below the width of any district.
SNAP_TOLERANCE_M = 1_000.0
_M_PER_DEGREE = 111_320.0  # metres per degree of latitude (and of longitude at the equator)

Ring = tuple[tuple[float, float], ...]  # (lon, lat) vertices, closed
Edge = tuple[str, float, float, float, float]  # district code, lon1, lat1, lon2, lat2


@dataclass(frozen=True, slots=True)
class _District:
    code: str
    rings: tuple[Ring, ...]
    bbox: tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat
    label: tuple[float, float]  # (lat, lon)


def jitter(key: str) -> tuple[float, float]:
    """Two stable numbers in [-1, 1) for a key."""
    return (unit_hash(f"{key}/lat") * 2 - 1, unit_hash(f"{key}/lon") * 2 - 1)


def _inside(rings: tuple[Ring, ...], lon: float, lat: float) -> bool:
    # Even-odd rule over all rings, so holes and multi-part districts need no special case.
    inside = False
    for ring in rings:
        x1, y1 = ring[-1]
        for x2, y2 in ring:
            if (y1 > lat) != (y2 > lat) and lon < (x2 - x1) * (lat - y1) / (y2 - y1) + x1:
                inside = not inside
            x1, y1 = x2, y2
    return inside


class DistrictShapes:
    def __init__(self, districts: list[_District]) -> None:
        self._districts = districts
        self._by_code = {d.code: d for d in districts}
        self.bbox = (
            min(d.bbox[1] for d in districts),
            min(d.bbox[0] for d in districts),
            max(d.bbox[3] for d in districts),
            max(d.bbox[2] for d in districts),
        )  # (min_lat, min_lon, max_lat, max_lon)
        self._boundary_cells = self._cells_on_edges()
        self._cell_answers: dict[tuple[int, int], str | None] = {}
        self._edges_near = self._edges_by_cell(SNAP_TOLERANCE_M)

    @classmethod
    def from_geojson(cls, geojson: dict[str, Any]) -> DistrictShapes:
        districts = []
        for feature in geojson["features"]:
            geometry = feature["geometry"]
            polygons = (
                [geometry["coordinates"]]
                if geometry["type"] == "Polygon"
                else geometry["coordinates"]
            )
            rings = tuple(
                tuple((float(x), float(y)) for x, y in ring)
                for polygon in polygons
                for ring in polygon
            )
            xs = [x for ring in rings for x, _ in ring]
            ys = [y for ring in rings for _, y in ring]
            props = feature["properties"]
            districts.append(
                _District(
                    code=str(props["adcode"]),
                    rings=rings,
                    bbox=(min(xs), min(ys), max(xs), max(ys)),
                    label=(float(props["label_lat"]), float(props["label_lon"])),
                )
            )
        return cls(districts)

    def _cells_on_edges(self) -> frozenset[tuple[int, int]]:
        # Every cell an edge's bounding box touches (a superset of the cells the edge crosses).
        cells: set[tuple[int, int]] = set()
        for district in self._districts:
            for ring in district.rings:
                x1, y1 = ring[-1]
                for x2, y2 in ring:
                    for cx in range(_cell(min(x1, x2)), _cell(max(x1, x2)) + 1):
                        for cy in range(_cell(min(y1, y2)), _cell(max(y1, y2)) + 1):
                            cells.add((cx, cy))
                    x1, y1 = x2, y2
        return frozenset(cells)

    def _edges_by_cell(self, radius_m: float) -> dict[tuple[int, int], tuple[Edge, ...]]:
        # The edges of a cell are all those that can be within radius_m of a point in it: first
        # every edge under every cell within radius_m of the edge's bounding box ...
        max_lat = max(abs(self.bbox[0]), abs(self.bbox[2]))
        radius_deg = radius_m / (_M_PER_DEGREE * math.cos(math.radians(max_lat)))
        pad = math.ceil(radius_deg / _CELL)
        cells: dict[tuple[int, int], list[Edge]] = {}
        for district in self._districts:
            for ring in district.rings:
                x1, y1 = ring[-1]
                for x2, y2 in ring:
                    edge = (district.code, x1, y1, x2, y2)
                    for cx in range(_cell(min(x1, x2)) - pad, _cell(max(x1, x2)) + pad + 1):
                        for cy in range(_cell(min(y1, y2)) - pad, _cell(max(y1, y2)) + pad + 1):
                            cells.setdefault((cx, cy), []).append(edge)
                    x1, y1 = x2, y2
        # ... then only those within radius_m + half the cell's diagonal of its centre (a cell
        # with none is farther than radius_m from every boundary: no snap there).
        kept: dict[tuple[int, int], tuple[Edge, ...]] = {}
        for (cx, cy), edges in cells.items():
            lat, lon = (cy + 0.5) * _CELL, (cx + 0.5) * _CELL
            half_diagonal = (
                _CELL / 2 * math.hypot(_M_PER_DEGREE, _M_PER_DEGREE * math.cos(math.radians(lat)))
            )
            reach = radius_m + half_diagonal + 10.0  # 10 m for the projection's error
            near = tuple(e for e in edges if (_nearest((e,), lat, lon) or (math.inf,))[0] <= reach)
            if near:
                kept[(cx, cy)] = near
        return kept

    def district_at(self, lat: float, lon: float) -> str | None:
        """The district of a point: the polygon it is in, else the nearest polygon at most
        SNAP_TOLERANCE_M away (a gap left by the simplified borders), else None (outside)."""
        if not (math.isfinite(lat) and math.isfinite(lon)):
            return None
        cell = (_cell(lon), _cell(lat))
        edges = self._edges_near.get(cell)
        min_lat, min_lon, max_lat, max_lon = self.bbox
        if edges is None and not (min_lat <= lat <= max_lat and min_lon <= lon <= max_lon):
            return None  # outside every polygon and farther than the tolerance from all
        found = self._in_cell(cell, lat, lon)
        if found is None and edges is not None:
            nearest = _nearest(edges, lat, lon)
            if nearest is not None and nearest[0] <= SNAP_TOLERANCE_M:
                return nearest[1]
        return found

    def strict_district_at(self, lat: float, lon: float) -> str | None:
        """The district whose (simplified) polygon holds the point; None in a gap or outside."""
        if not (math.isfinite(lat) and math.isfinite(lon)):
            return None
        min_lat, min_lon, max_lat, max_lon = self.bbox
        if not (min_lat <= lat <= max_lat and min_lon <= lon <= max_lon):
            return None
        return self._in_cell((_cell(lon), _cell(lat)), lat, lon)

    def distance_m(self, lat: float, lon: float, code: str) -> float:
        """Metres from the point to district `code`'s polygon: 0 inside it, inf when farther
        than SNAP_TOLERANCE_M."""
        if self.strict_district_at(lat, lon) == code:
            return 0.0
        edges = self._edges_near.get((_cell(lon), _cell(lat)), ())
        nearest = _nearest(tuple(e for e in edges if e[0] == code), lat, lon)
        if nearest is None or nearest[0] > SNAP_TOLERANCE_M:
            return math.inf
        return nearest[0]

    def _in_cell(self, cell: tuple[int, int], lat: float, lon: float) -> str | None:
        if cell in self._boundary_cells:
            return self._scan(lat, lon)
        if cell not in self._cell_answers:
            self._cell_answers[cell] = self._scan(lat, lon)
        return self._cell_answers[cell]

    def _scan(self, lat: float, lon: float) -> str | None:
        for d in self._districts:
            x0, y0, x1, y1 = d.bbox
            if x0 <= lon <= x1 and y0 <= lat <= y1 and _inside(d.rings, lon, lat):
                return d.code
        return None

    def label(self, code: str) -> tuple[float, float]:
        return self._by_code[code].label

    def random_point(self, code: str, seed: str) -> tuple[float, float]:
        """A stable point inside a district: seeded samples over its bbox, else its label point."""
        district = self._by_code[code]
        x0, y0, x1, y1 = district.bbox
        for attempt in range(64):
            u, v = jitter(f"{seed}/{attempt}")
            lon = x0 + (u + 1) / 2 * (x1 - x0)
            lat = y0 + (v + 1) / 2 * (y1 - y0)
            if self.strict_district_at(lat, lon) == code:
                return (round(lat, 6), round(lon, 6))
        return district.label


def _cell(value: float) -> int:
    return math.floor(value / _CELL)


def _nearest(edges: tuple[Edge, ...], lat: float, lon: float) -> tuple[float, str] | None:
    """(metres, district code) of the nearest edge; distances on a local equirectangular
    projection (exact enough over a few kilometres)."""
    kx = _M_PER_DEGREE * math.cos(math.radians(lat))
    ky = _M_PER_DEGREE
    best: tuple[float, str] | None = None
    for code, x1, y1, x2, y2 in edges:
        ax, ay = (x1 - lon) * kx, (y1 - lat) * ky
        dx, dy = (x2 - x1) * kx, (y2 - y1) * ky
        length = dx * dx + dy * dy
        t = 0.0 if length == 0 else min(1.0, max(0.0, -(ax * dx + ay * dy) / length))
        d2 = (ax + t * dx) ** 2 + (ay + t * dy) ** 2
        if best is None or d2 < best[0]:
            best = (d2, code)
    return None if best is None else (math.sqrt(best[0]), best[1])
