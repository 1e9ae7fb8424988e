"""Repeat detection, 只投诉一次 ("complain only once"): does a new report describe a matter the city
already has? Pure: the report, the candidates of its scope (its street, or its district for a
category whose rule says so: `scope_key`) and category (read by key from the repeat index's
small values, `index_keys`), the time and the policy; and the rules that keep each value
bounded (`kept`, `over_cap`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import msgspec

from cityops.schemas.event_types import Report
from cityops.streams.incidents.model import Chain, Incident
from cityops.streams.incidents.policy import STREET_SCOPE_MAX_RADIUS_M, Policy, RepeatRule

_EARTH_RADIUS_M = 6_371_008.8


class Candidate(msgspec.Struct, array_like=True, omit_defaults=True, gc=False):
    """What the repeat index keeps of an incident, in every index value it belongs to (one per
    rule it can be found by, see `index_keys`). Fixed-size but for two bounded codes: the
    address is a hash of its normalised text, kept only when no micro-grid is known (the only
    case the address rule looks at it)."""

    incident_id: str
    micro_grid: str = ""
    address: bytes = b""  # address_hash() of the incident's address
    lat: float | None = None
    lon: float | None = None
    sensor_id: str = ""
    closed_at: datetime | None = None  # None while open (resolved counts as open here)


# -- the index's keys ---------------------------------------------------------------------------
# One index value per (scope, category) and place: the micro-grid, the normalised address (by
# hash), the sensor, and a coordinate cell of CELL_DEGREES (~111 m of latitude; WIDE_CELL_DEGREES,
# ~1.1 km, for a category whose radius is wider than a street's rule). Every key starts with
# "<scope>|": the street, or the district for a district-scope category (`scope_key`); the
# partition follows from it. A value holds the incidents found there by one rule, so a flood of
# reports on one street spreads over many small values instead of one value growing with every
# incident of the street.
CELL_DEGREES = 0.001
WIDE_CELL_DEGREES = 0.01
ADDRESS_HASH_BYTES = 12
# At most this many candidates per index value (never reached by the rules themselves: one
# place holds one open incident, a cell a handful 50 m apart); over it the oldest closed go first.
MAX_ENTRIES_PER_KEY = 64


def key_prefix(scope: str, category: str) -> str:
    return f"{scope}|{category}|"


def scope_key(chain: Chain, rule: RepeatRule) -> str:
    """Where a report of this rule's category looks for its matter, and so its partition key and
    the head of the id of an incident it opens: its district for a district-scope rule, else its
    street (the district when no street is known, `Chain.key`)."""
    if rule.scope == "district" and chain.district:
        return chain.district
    return chain.key


def cell_degrees(radius_m: float) -> float:
    """The coordinate cell of a rule's radius: a 500 m box covers at most 2 x 2 wide cells
    instead of 10 x 12 narrow ones."""
    return CELL_DEGREES if radius_m <= STREET_SCOPE_MAX_RADIUS_M else WIDE_CELL_DEGREES


def address_hash(address: str | None) -> bytes:
    """A fixed-size digest of the normalised address (b"" when there is none)."""
    text = _norm(address)
    if not text:
        return b""
    return hashlib.blake2b(text.encode(), digest_size=ADDRESS_HASH_BYTES).digest()


def _cell_tag(cell: float) -> str:
    return "c" if cell == CELL_DEGREES else "w"


def _cell(lat: float, lon: float, cell: float) -> str:
    return f"{_cell_tag(cell)}:{math.floor(lat / cell)}:{math.floor(lon / cell)}"


def index_keys(prefix: str, candidate: Candidate, cell: float = CELL_DEGREES) -> list[str]:
    """The index values that hold a candidate (under its scope and category's `key_prefix`):
    each place a rule looks it up by (`cell`: the category's `cell_degrees`)."""
    keys = []
    if candidate.sensor_id:
        keys.append(f"{prefix}s:{candidate.sensor_id}")
    if candidate.micro_grid:
        keys.append(f"{prefix}g:{candidate.micro_grid}")
    elif candidate.address:
        keys.append(f"{prefix}a:{candidate.address.hex()}")
    if candidate.lat is not None and candidate.lon is not None:
        keys.append(prefix + _cell(candidate.lat, candidate.lon, cell))
    return keys


def candidate_of(incident: Incident) -> Candidate:
    micro_grid = incident.chain.micro_grid
    return Candidate(
        incident.id,
        micro_grid,
        b"" if micro_grid else address_hash(incident.address),
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


# The candidates of the given index keys (the engine reads its index values; a plain list of
# candidates stands for every key at once, as in `match_repeat`).
Lookup = Callable[[list[str]], Iterable[Candidate]]


def match_repeat(
    report: Report, candidates: list[Candidate], now: datetime, policy: Policy
) -> Candidate | None:
    """The incident this report repeats, or None, among candidates of its scope and category."""
    return find_repeat(report, "", lambda keys: candidates, now, policy)


def find_repeat(
    report: Report, prefix: str, lookup: Lookup, now: datetime, policy: Policy
) -> Candidate | None:
    """The incident this report repeats, or None. `lookup` gives the candidates of index keys
    under `prefix` (the report's scope and category, `key_prefix`).

    In order: the same sensor (repeated alarms fold into one incident); the same micro-grid; the
    same address when no micro-grid is known; within the category's radius (50 m by default,
    `Policy.repeat_rule`) when both carry coordinates. Open incidents match, and closed ones
    within the category's window after close.
    Among several matches an open incident wins, then the one closed most recently.
    """
    # Each rule reads the index values of its place only and still checks every candidate it
    # gets (a lookup may give more, e.g. a whole street's in the unit tests). A rule only runs
    # when every rule before it found nothing; the great-circle distance only for candidates
    # inside a bounding box around the point (it never excludes one within the radius).
    rule = policy.repeat_rule(report.category)
    window = rule.after_close
    location = report.location
    sensor = report.sensor.sensor_id if report.sensor else ""
    if sensor:
        found = [c for c in lookup([f"{prefix}s:{sensor}"]) if c.sensor_id == sensor]
        if found := _fresh(found, now, window):
            return max(found, key=_preference)
    micro_grid = location.micro_grid or ""
    if micro_grid:
        found = [c for c in lookup([f"{prefix}g:{micro_grid}"]) if c.micro_grid == micro_grid]
    elif address := address_hash(location.address):
        keys = [f"{prefix}a:{address.hex()}"]
        found = [c for c in lookup(keys) if c.address == address and not c.micro_grid]
    else:
        found = []
    if found := _fresh(found, now, window):
        return max(found, key=_preference)
    lat, lon = location.lat, location.lon
    if lat is None or lon is None:
        return None
    radius = rule.radius_m
    dlat = math.degrees(radius / _EARTH_RADIUS_M) * 1.01
    dlon = dlat / max(math.cos(math.radians(min(abs(lat) + dlat, 89.0))), 1e-6)
    # The box as bounds (chained comparisons allocate no floats), latitude first: it rules out
    # most candidates. Its 1 % margin dwarfs any rounding at its edges. The cells read are the
    # ones the box overlaps (an incident's cell follows from its point the same way).
    south, north, west, east = lat - dlat, lat + dlat, lon - dlon, lon + dlon
    near = [
        c
        for c in lookup(cells_of_box(prefix, south, north, west, east, cell_degrees(radius)))
        if c.lat is not None
        and south <= c.lat <= north
        and c.lon is not None
        and west <= c.lon <= east
    ]
    found = [
        c
        for c in _fresh(near, now, window)
        if c.lat is not None and c.lon is not None and haversine_m(lat, lon, c.lat, c.lon) <= radius
    ]
    return max(found, key=_preference) if found else None


def cells_of_box(
    prefix: str, south: float, north: float, west: float, east: float, cell: float = CELL_DEGREES
) -> list[str]:
    """The keys of the coordinate cells a box overlaps (one to four for the 50 m radius in
    narrow cells, for 500 m in wide ones)."""
    rows = range(math.floor(south / cell), math.floor(north / cell) + 1)
    columns = range(math.floor(west / cell), math.floor(east / cell) + 1)
    tag = _cell_tag(cell)
    return [f"{prefix}{tag}:{row}:{column}" for row in rows for column in columns]


# -- keeping index values bounded ---------------------------------------------------------------
def kept(
    candidates: Iterable[Candidate], now: datetime, days_after_close: float
) -> dict[str, Candidate]:
    """An index value's candidates by incident id, without those closed longer than the repeat
    window ago (no rule can link to them any more)."""
    return {
        c.incident_id: c
        for c in candidates
        if c.closed_at is None or in_window(c, now, days_after_close)
    }


def over_cap(entries: dict[str, Candidate], cap: int = MAX_ENTRIES_PER_KEY) -> list[str]:
    """Incident ids to drop so that at most `cap` remain: closed ones first, the earliest
    closed first, then open ones in the value's order (the least recently changed first)."""
    excess = len(entries) - cap
    if excess <= 0:
        return []
    closed = sorted(
        ((c.closed_at, c) for c in entries.values() if c.closed_at is not None),
        key=lambda pair: pair[0],
    )
    still_open = [c for c in entries.values() if c.closed_at is None]
    return [c.incident_id for c in ([c for _, c in closed] + still_open)[:excess]]


def _fresh(candidates: list[Candidate], now: datetime, window: timedelta) -> list[Candidate]:
    """Open candidates, and closed ones within the repeat window."""
    return [c for c in candidates if c.closed_at is None or now - c.closed_at <= window]


def _preference(candidate: Candidate) -> tuple[int, float]:
    if candidate.closed_at is None:
        return (1, 0.0)
    return (0, candidate.closed_at.timestamp())


def _norm(address: str | None) -> str:
    return " ".join(address.split()).casefold() if address else ""
