"""Repeat detection, 只投诉一次 ("complain only once"): does a new report describe a matter the city
already has? Pure: the report, the candidates of its street and category, the time and the policy.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import msgspec

from schemas.event_types import Report
from streams.incidents.model import Chain, Incident
from streams.incidents.policy import Policy

_EARTH_RADIUS_M = 6_371_008.8


class Candidate(msgspec.Struct, array_like=True, omit_defaults=True, gc=False):
    """What the repeat index keeps of an incident (one bucket per street and category)."""

    incident_id: str
    micro_grid: str = ""
    address: str = ""
    lat: float | None = None
    lon: float | None = None
    sensor_id: str = ""
    closed_at: datetime | None = None  # None while open (resolved counts as open here)


def bucket_key(chain: Chain, category: str) -> str:
    return f"{chain.key}|{category}"


def candidate_of(incident: Incident) -> Candidate:
    return Candidate(
        incident.id,
        incident.chain.micro_grid,
        _norm(incident.address),
        incident.lat,
        incident.lon,
        incident.sensor_id or "",
        incident.closed_at if incident.status == "closed" else None,
    )


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def in_window(candidate: Candidate, now: datetime, days_after_close: float) -> bool:
    return candidate.closed_at is None or now - candidate.closed_at <= timedelta(
        days=days_after_close
    )


def match_repeat(
    report: Report, candidates: list[Candidate], now: datetime, policy: Policy
) -> Candidate | None:
    """The incident this report repeats, or None. Candidates share its street and category.

    In order: the same sensor (repeated alarms fold into one incident); the same micro-grid; the
    same address when no micro-grid is known; within the policy's radius (50 m) when both
    carry coordinates.
    Among several matches an open incident wins, then the one closed most recently.
    """
    # One list comprehension per rule, cheapest first: most reports name a micro-grid, so most
    # buckets are scanned once with one string comparison per candidate; the great-circle
    # distance only for candidates inside a bounding box around the point (it never excludes
    # one within the radius). A rule only runs when every rule before it found nothing.
    window = timedelta(days=policy.repeat_days_after_close)
    location = report.location
    sensor = report.sensor.sensor_id if report.sensor else ""
    if sensor:
        found = [c for c in candidates if c.sensor_id == sensor]
        if found := _fresh(found, now, window):
            return max(found, key=_preference)
    micro_grid = location.micro_grid or ""
    if micro_grid:
        found = [c for c in candidates if c.micro_grid == micro_grid]
    elif address := _norm(location.address):
        found = [c for c in candidates if c.address == address and not c.micro_grid]
    else:
        found = []
    if found := _fresh(found, now, window):
        return max(found, key=_preference)
    lat, lon = location.lat, location.lon
    if lat is None or lon is None:
        return None
    radius = policy.repeat_radius_m
    dlat = math.degrees(radius / _EARTH_RADIUS_M) * 1.01
    dlon = dlat / max(math.cos(math.radians(min(abs(lat) + dlat, 89.0))), 1e-6)
    # The box as bounds (chained comparisons allocate no floats), latitude first: it rules out
    # most of a street's candidates. Its 1 % margin dwarfs any rounding at its edges.
    south, north, west, east = lat - dlat, lat + dlat, lon - dlon, lon + dlon
    near = [
        c
        for c in candidates
        if c.lat is not None
        and south <= c.lat <= north
        and c.lon is not None
        and west <= c.lon <= east
    ]
    found = [c for c in _fresh(near, now, window) if haversine_m(lat, lon, c.lat, c.lon) <= radius]
    return max(found, key=_preference) if found else None


def _fresh(candidates: list[Candidate], now: datetime, window: timedelta) -> list[Candidate]:
    """Open candidates, and closed ones within the repeat window."""
    return [c for c in candidates if c.closed_at is None or now - c.closed_at <= window]


def _preference(candidate: Candidate) -> tuple[int, float]:
    if candidate.closed_at is None:
        return (1, 0.0)
    return (0, candidate.closed_at.timestamp())


def _norm(address: str | None) -> str:
    return " ".join(address.split()).casefold() if address else ""
