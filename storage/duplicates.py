"""Possible duplicates of an incident (并单建议) for the incident page: other open incidents of the
same category reported within 72 h of it and within 50 m of it, by the great-circle distance
between the incidents' lat/lon. The query narrows by category, report time and a box of
coordinates around the incident (every value bound; the officer's scope is a term of it); the
pure `candidates` decides. Incidents without coordinates (lat = lon = 0) are never suggested.
Runs on ClickHouse 18.16 and current ClickHouse.
"""

from __future__ import annotations

import math

from cityops.storage.client import check_database_name
from cityops.storage.latest import WIDE_SELECT, latest_wide, scope_term, wide_rows

RADIUS_M = 50.0
WINDOW_S = 72 * 3600
EARTH_RADIUS_M = 6_371_008.8  # mean radius
MAX_SUGGESTIONS = 10
# Statuses an incident may still be merged from or into (streams/incidents/model.py OPEN_STATUSES)
OPEN = ("reported", "dispatched", "accepted", "in_progress", "reopened")


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance in metres (haversine). Pure."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _located(row: dict) -> bool:
    return bool(row.get("lat") or row.get("lon"))


def candidates(
    incident: dict, others: list[dict], *, radius_m: float = RADIUS_M, window_s: int = WINDOW_S
) -> list[dict]:
    """The rows of `others` that may duplicate `incident` (dicts with incident_id, status,
    category, reported_at in unix seconds, lat, lon), nearest first, each with `distance_m` and
    `hours_apart`: another open incident of the same category, reported within `window_s` of it,
    within `radius_m` of it. Nothing for an incident that is not open or has no coordinates."""
    if incident["status"] not in OPEN or not _located(incident):
        return []
    found = []
    for other in others:
        if other["incident_id"] == incident["incident_id"] or other["status"] not in OPEN:
            continue
        if other["category"] != incident["category"] or not _located(other):
            continue
        apart = abs(int(other["reported_at"]) - int(incident["reported_at"]))
        if apart > window_s:
            continue
        meters = distance_m(incident["lat"], incident["lon"], other["lat"], other["lon"])
        if meters <= radius_m:
            found.append({**other, "distance_m": meters, "hours_apart": apart / 3600})
    found.sort(key=lambda r: (r["distance_m"], r["incident_id"]))
    return found[:MAX_SUGGESTIONS]


def box(lat: float, lon: float, radius_m: float = RADIUS_M) -> tuple[float, float, float, float]:
    """(lat_min, lat_max, lon_min, lon_max) holding every point within `radius_m`, a little
    wider (the query's coarse filter). Pure."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M) * 1.01
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def possible_duplicates(client, db: str, incident: dict, *, scope: str | None = None) -> list:
    """`candidates` of one incident (a row of storage/incident_pages.incident) among the
    incidents of the officer's `scope` (None: the city)."""
    if incident["status"] not in OPEN or not _located(incident):
        return []
    db = check_database_name(db)
    lat_min, lat_max, lon_min, lon_max = box(incident["lat"], incident["lon"])
    at = int(incident["reported_at"] or 0)
    where = (
        "category = %(category)s AND reported_at >= toDateTime(%(t0)s)"
        " AND reported_at <= toDateTime(%(t1)s) AND lat >= %(lat0)s AND lat <= %(lat1)s"
        f" AND lon >= %(lon0)s AND lon <= %(lon1)s AND incident_id != %(id)s{scope_term(scope)}"
    )
    sql = f"SELECT {WIDE_SELECT} FROM ({latest_wide(db, where)})"
    params = {
        "category": incident["category"],
        "t0": at - WINDOW_S,
        "t1": at + WINDOW_S,
        "lat0": lat_min,
        "lat1": lat_max,
        "lon0": lon_min,
        "lon1": lon_max,
        "id": incident["incident_id"],
        "scope": scope,
    }
    return candidates(incident, wide_rows(client.execute(sql, params)))
