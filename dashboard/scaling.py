"""Figures that scale with the viewport (pure; no I/O).

The wall was drawn for 1920x1080: at 3840x2160 its figures kept 1080p-sized fonts and the map kept
the zoom that filled a 1080p panel. The browser reports its size (a clientside callback) and the
wall patches the figures' fonts and the map's zoom and centre once per size, never per refresh.

- `scale_for(height)`: font scale, 1.0 at 1080 px, 2.0 at 2160 px (clamped to 0.75..4).
- `fit_view(bounds, width, height)`: the map zoom and centre that fit `bounds` into a panel of
  `width` x `height` CSS pixels (Web Mercator, 512-pixel tiles as MapLibre draws them).
- `font_patch(kind, scale)`: a plotly Patch of one figure's font sizes and margins.
"""

from __future__ import annotations

import math

from dash import Patch

BASE_HEIGHT = 1080
TILE = 512  # MapLibre's world is 512 px wide at zoom 0
MAX_ZOOM = 15.0

# font sizes and margins of each wall figure at 1080p (figures.py draws them at these sizes)
BASE: dict[str, dict] = {
    "map": {"font": 14, "margin": (8, 8, 8, 8), "colorbar": 12},
    "chain": {"font": 14, "tick": 16, "text": 18, "margin": (70, 8, 4, 4)},
    "epm": {"font": 14, "tick": 12, "legend": 12, "margin": (36, 8, 28, 24)},
    "cats": {"font": 14, "tick": 14, "text": 15, "margin": (110, 8, 4, 4)},
}


def scale_for(height: float | None) -> float:
    """Font scale of a viewport `height` px high: 1080 → 1.0, 2160 → 2.0, in steps of 0.05."""
    if not height or height <= 0:
        return 1.0
    raw = min(4.0, max(0.75, height / BASE_HEIGHT))
    return round(round(raw * 20) / 20, 2)


def _mercator_y(lat: float) -> float:
    lat = max(-85.0, min(85.0, lat))
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def fit_view(
    bounds: tuple[float, float, float, float], width: float, height: float, pad: float = 0.06
) -> dict:
    """{"zoom", "center": {"lat", "lon"}} fitting `bounds` (west, south, east, north) into a
    `width` x `height` px panel with `pad` (a share of each side) left free."""
    west, south, east, north = bounds
    center = {"lat": (south + north) / 2, "lon": (west + east) / 2}
    # centre in Mercator: the middle of the projected extent, not of the latitudes
    y_mid = (_mercator_y(south) + _mercator_y(north)) / 2
    center["lat"] = math.degrees(2 * math.atan(math.exp(y_mid)) - math.pi / 2)
    if width <= 0 or height <= 0:
        return {"zoom": 8.3, "center": center}
    usable_w, usable_h = width * (1 - 2 * pad), height * (1 - 2 * pad)
    lon_share = max(east - west, 1e-6) / 360.0
    lat_share = max(_mercator_y(north) - _mercator_y(south), 1e-6) / (2 * math.pi)
    zoom = min(math.log2(usable_w / (TILE * lon_share)), math.log2(usable_h / (TILE * lat_share)))
    return {"zoom": round(min(MAX_ZOOM, max(0.0, zoom)), 3), "center": center}


def _points(geometry: dict):
    coords = geometry.get("coordinates", [])
    kind = geometry.get("type")
    if kind == "Polygon":
        rings = coords
    elif kind == "MultiPolygon":
        rings = [ring for polygon in coords for ring in polygon]
    else:
        return
    for ring in rings:
        yield from ring


Bounds = tuple[float, float, float, float]


def bounds_of(geojson: dict, codes: tuple[str, ...] | None = None) -> Bounds | None:
    """(west, south, east, north) of the features (all, or those whose id is in `codes`)."""
    key = (id(geojson), codes)
    return _bounds_cached(key, geojson, codes)


_BOUNDS: dict = {}  # the registry's geojson is loaded once: its bounds are computed once


def _bounds_cached(key, geojson: dict, codes) -> Bounds | None:
    if key in _BOUNDS:
        return _BOUNDS[key]
    west = south = math.inf
    east = north = -math.inf
    for feature in geojson.get("features", []):
        if codes is not None and str(feature.get("id")) not in codes:
            continue
        for lon, lat, *_ in _points(feature.get("geometry") or {}):
            west, east = min(west, lon), max(east, lon)
            south, north = min(south, lat), max(north, lat)
    result: Bounds | None = None if west == math.inf else (west, south, east, north)
    if len(_BOUNDS) < 64:
        _BOUNDS[key] = result
    return result


def _margin(base: tuple[int, int, int, int], scale: float) -> dict:
    left, right, top, bottom = base
    return {
        "l": round(left * scale),
        "r": round(right * scale),
        "t": round(top * scale),
        "b": round(bottom * scale),
    }


def font_patch(kind: str, scale: float, view: dict | None = None) -> Patch:
    """The font sizes (and margins; the map's zoom and centre when `view` is given) of one wall
    figure at `scale`."""
    base = BASE[kind]
    patch = Patch()
    patch["layout"]["font"]["size"] = round(base["font"] * scale)
    patch["layout"]["margin"] = _margin(base["margin"], scale)
    if kind == "map":
        patch["data"][0]["colorbar"]["thickness"] = round(base["colorbar"] * scale)
        patch["data"][0]["colorbar"]["tickfont"]["size"] = round(base["font"] * scale)
        if view is not None:
            patch["layout"]["map"]["zoom"] = view["zoom"]
            patch["layout"]["map"]["center"] = view["center"]
        return patch
    if "tick" in base:
        patch["layout"]["yaxis"]["tickfont"]["size"] = round(base["tick"] * scale)
    if kind == "epm":
        patch["layout"]["xaxis"]["tickfont"]["size"] = round(base["tick"] * scale)
        patch["layout"]["legend"]["font"]["size"] = round(base["legend"] * scale)
    if "text" in base:
        patch["data"][0]["textfont"]["size"] = round(base["text"] * scale)
    return patch
