"""District boundaries of the sample city: point-in-polygon and deterministic points inside.

Pure Python (ray casting, bbox prefilter, a cell cache for the hot path); used by the registry
(schemas/registry.py) and, through it, by the event validator for reports with coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cityops.schemas.gridgen import unit_hash

# Cell size (degrees) of the lookup cache: a cell no boundary crosses has one answer
# for all its points.
_CELL = 0.01

Ring = tuple[tuple[float, float], ...]  # (lon, lat) vertices, closed


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

    def district_at(self, lat: float, lon: float) -> str | None:
        if not (math.isfinite(lat) and math.isfinite(lon)):
            return None
        min_lat, min_lon, max_lat, max_lon = self.bbox
        if not (min_lat <= lat <= max_lat and min_lon <= lon <= max_lon):
            return None
        cell = (_cell(lon), _cell(lat))
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
            if self.district_at(lat, lon) == code:
                return (round(lat, 6), round(lon, 6))
        return district.label


def _cell(value: float) -> int:
    return math.floor(value / _CELL)
