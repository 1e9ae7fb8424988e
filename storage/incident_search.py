"""Drill-down search (`/incidents`) served from the wall's latest-state cache (storage/snapshot.py)
when it can be: the cache already holds every incident's status, district, severity and report
time, so counting and paging need no aggregation over every version; only the page's rows are
read from ClickHouse, from `incidents_by_report` (migration 5: the incident rows ordered by
report time) as one primary-key range. Street, category and title filters first find their
incidents there too; the cache then says which of them match on their latest version. Sorts by
severity, status and district (keys of the index's groups) are served too, ordered as the SQL
orders them: the sort column, then report time newest first, then incident id. Sorts by category
and resolve_due fall back to storage.queries.search_incidents.
"""

from __future__ import annotations

import bisect
import heapq
import threading
from array import array
from itertools import islice
from typing import NamedTuple

from storage.client import check_database_name
from storage.queries import (
    _LATEST_WIDE,
    _WIDE_SELECT,
    IncidentFilter,
    _wide_rows,
    filter_params,
    opening_terms,
    text_bounded,
)

# The part of a packed state (snapshot.LatestState.pack) a search filters on:
# status | district << 32 | severity << 56.
GROUP_MASK = 0xFFFF | 0xFFFF << 32 | 0xFF << 56


def _status(key: int) -> int:
    return key & 0xFFFF


def _district(key: int) -> int:
    return (key >> 32) & 0xFFFF


def _severity(key: int) -> int:
    return key >> 56


class ReportedIndex:
    """The cache's slots sorted by report time (`order`), and the same split by (status,
    district, severity) (`groups`: a few hundred sorted arrays), so a filtered search counts
    by bisecting and pages by merging instead of passing over every incident of its window.
    Built once per loaded state; then new slots are inserted and slots whose state changed
    (LatestState.changed) move between groups. Report time is fixed at opening, so a slot's
    place in its order never changes. Both orders are by (reported_at, slot)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state_id: int | None = None
        self.order: list[int] = []
        self.groups: dict[int, array] = {}  # GROUP_MASK part of the code -> slots
        self._group_of = array("Q")  # slot -> the group it is filed under
        self._changes = 0  # LatestState.changed[:_changes] are filed
        self.indexed = 0

    def update(self, state) -> ReportedIndex:
        with self._lock:
            reported, code = state.reported, state.code
            n = len(reported)
            if self._state_id != id(state):
                # changes logged from here on are filed below, whatever this pass read
                self._changes = len(state.changed)
                self.order = sorted(range(n), key=reported.__getitem__)
                groups: dict[int, array] = {}
                group_of = array("Q", bytes(8 * n))
                for slot in self.order:
                    key = group_of[slot] = code[slot] & GROUP_MASK
                    found = groups.get(key)
                    if found is None:
                        found = groups[key] = array("L")
                    found.append(slot)
                self.groups, self._group_of = groups, group_of
                self._state_id, self.indexed = id(state), n
            by_time = self._key(reported)
            for slot in range(self.indexed, n):
                bisect.insort(self.order, slot, key=reported.__getitem__)
                key = code[slot] & GROUP_MASK
                bisect.insort(self.groups.setdefault(key, array("L")), slot, key=by_time)
                self._group_of.append(key)
            self.indexed = n
            changed = state.changed
            end = len(changed)
            for i in range(self._changes, end):
                slot = changed[i]
                if slot >= n:
                    continue  # added after this update began: filed by the next one
                key, old = code[slot] & GROUP_MASK, self._group_of[slot]
                if key != old:
                    group = self.groups[old]
                    del group[bisect.bisect_left(group, by_time(slot), key=by_time)]
                    bisect.insort(self.groups.setdefault(key, array("L")), slot, key=by_time)
                    self._group_of[slot] = key
            self._changes = end
            return self

    @staticmethod
    def _key(reported):
        return lambda slot: (reported[slot], slot)


# sorts the cache serves besides report time: the part of a packed state each sorts by
GROUP_SORTS = {"severity": _severity, "status": _status, "district": _district}
CACHED_SORTS = {"reported_at", *GROUP_SORTS}


def _sort_value(state, sort: str):
    """packed state -> the value the SQL search sorts by (strings compare as in ClickHouse:
    UTF-8 bytes order as code points)."""
    if sort == "severity":
        return _severity
    values = (state._status if sort == "status" else state._district).values
    part = GROUP_SORTS[sort]
    return lambda key: values[part(key)]


def _codes(interned, values) -> set[int]:
    return {interned.index[v] for v in values if v in interned.index}


class Found(NamedTuple):
    """A search's answer from the cache. `page`: the page's slots, ties in report time broken
    by slot; `window`: every matching slot reported within the page's first and last report
    times and `skip`: how many of them come before the page. The SQL search breaks ties by
    incident id, which the cache does not hold: `page_rows` reads the window's rows, sorts them
    as the SQL does and keeps window[skip:skip + limit]. Without ties, window == page."""

    total: int
    page: list[int]
    window: list[int] = []
    skip: int = 0
    sort: str = "reported_at"


NOTHING = Found(0, [], [], 0)


def _found(total, runs, reported, *, descending: bool, offset: int, limit: int) -> Found:
    page = _page(runs, reported, descending=descending, offset=offset, limit=limit)
    if not page:
        return Found(total, [], [], 0)
    r_lo, r_hi = sorted((reported[page[0]], reported[page[-1]]))
    by_time = reported.__getitem__
    window: list[int] = []
    before = 0
    for run in runs:
        i = bisect.bisect_left(run, r_lo, key=by_time)
        j = bisect.bisect_right(run, r_hi, key=by_time)
        window.extend(run[i:j])
        before += len(run) - j if descending else i
    return Found(total, page, window, offset - before)


def _found_sorted(
    total, buckets, reported, sort, *, descending: bool, offset: int, limit: int
) -> Found:
    """A page sorted by a state column: `buckets` are, in the sort's order, the runs of each
    value of the sort column (each run sorted by (reported_at, slot)); within a value the page
    is newest first. The window holds, for each value the page touches, every slot reported
    within that value's first and last report times on the page; `page_rows` sorts it as the
    SQL does (value, report time descending, incident id)."""
    by_time = reported.__getitem__
    page: list[int] = []
    window: list[int] = []
    before = 0  # matching slots ahead of the window
    rest = offset
    for runs in buckets:
        if len(page) >= limit:
            break
        size = sum(len(r) for r in runs)
        if rest >= size:
            rest -= size
            before += size
            continue
        part = _page(runs, reported, descending=True, offset=rest, limit=limit - len(page))
        r_lo, r_hi = reported[part[-1]], reported[part[0]]
        for run in runs:
            i = bisect.bisect_left(run, r_lo, key=by_time)
            j = bisect.bisect_right(run, r_hi, key=by_time)
            window.extend(run[i:j])
            if not page:
                before += len(run) - j
        page.extend(part)
        rest = 0
    if not page:
        return Found(total, [], [], 0, sort)
    return Found(total, page, window, offset - before, sort)


def _buckets(state, sort: str, keyed_runs, *, descending: bool) -> list[list]:
    """(packed state, run) pairs -> the runs grouped by the sort column's value, in order."""
    value_of = _sort_value(state, sort)
    by_value: dict = {}
    for key, run in keyed_runs:
        by_value.setdefault(value_of(key), []).append(run)
    return [by_value[v] for v in sorted(by_value, reverse=descending)]


def _page(runs, reported, *, descending: bool, offset: int, limit: int) -> list[int]:
    """The page of slots from several runs each sorted by (reported_at, slot)."""
    if len(runs) == 1:
        run = runs[0]
        span = range(len(run) - 1, -1, -1) if descending else range(len(run))
        return [run[i] for i in span[offset : offset + limit]]
    key = ReportedIndex._key(reported)
    merged = heapq.merge(
        *((reversed(r) if descending else r) for r in runs), key=key, reverse=descending
    )
    return list(islice(merged, offset, offset + limit))


def _filters(state, flt: IncidentFilter, scope: str | None):
    """(district codes or None, status codes or None, min severity), or None when nothing can
    match (an unknown district or status, or a filter outside the officer's district)."""
    districts = [d for d in (flt.district, scope) if d]
    if len(set(districts)) > 1:
        return None
    district = _codes(state._district, districts) if districts else None
    statuses = _codes(state._status, flt.statuses) if flt.statuses else None
    if district == set() or statuses == set():
        return None
    return district, statuses, flt.min_severity or 0


def search_state(
    state,
    index: ReportedIndex,
    flt: IncidentFilter,
    *,
    sort: str = "reported_at",
    descending: bool = True,
    offset: int = 0,
    limit: int = 25,
    scope: str | None = None,
) -> Found | None:
    """(total matching, the page's slots, …) sorted by report time (or by severity, status or
    district: GROUP_SORTS), or None when the filter needs columns the cache does not hold
    (street, category, title: see `match_candidates`) or the sort is not cached. `index` is
    ReportedIndex.update(state). Pure: reads the state, no I/O."""
    if flt.street or flt.category or flt.text or sort not in CACHED_SORTS:
        return None
    found = _filters(state, flt, scope)
    if found is None:
        return NOTHING
    district, statuses, min_severity = found
    reported = state.reported
    by_time = reported.__getitem__
    offset, limit = max(0, int(offset)), max(1, min(int(limit), 200))
    if sort == "reported_at" and district is None and statuses is None and not min_severity:
        order = index.order
        lo = bisect.bisect_left(order, flt.since, key=by_time)
        hi = bisect.bisect_left(order, flt.until, key=by_time)
        span = range(hi - 1, lo - 1, -1) if descending else range(lo, hi)
        page = [order[i] for i in span[offset : offset + limit]]
        if not page:
            return Found(hi - lo, [], [], 0)
        r_lo, r_hi = sorted((reported[page[0]], reported[page[-1]]))
        i = bisect.bisect_left(order, r_lo, lo, hi, key=by_time)
        j = bisect.bisect_right(order, r_hi, lo, hi, key=by_time)
        return Found(hi - lo, page, order[i:j], offset - (hi - j if descending else i - lo))
    # the groups that match, each cut to the window by bisecting: (slots) by (reported_at, slot)
    runs = []
    for key, group in index.groups.items():
        if (
            (district is None or _district(key) in district)
            and (statuses is None or _status(key) in statuses)
            and _severity(key) >= min_severity
        ):
            lo = bisect.bisect_left(group, flt.since, key=by_time)
            hi = bisect.bisect_left(group, flt.until, key=by_time)
            if hi > lo:
                runs.append((key, group[lo:hi]))
    total = sum(len(r) for _, r in runs)
    if sort != "reported_at":
        buckets = _buckets(state, sort, runs, descending=descending)
        how = {"descending": descending, "offset": offset, "limit": limit}
        return _found_sorted(total, buckets, reported, sort, **how)
    runs = [r for _, r in runs]
    return _found(total, runs, reported, descending=descending, offset=offset, limit=limit)


def candidates(client, db: str, flt: IncidentFilter, *, scope: str | None = None) -> list:
    """(hash, newest matching version) of the incidents reported in the filter's range whose
    rows match its street, category and title (any version), from `incidents_by_report`."""
    db = check_database_name(db)
    where = opening_terms(flt, scope)
    if flt.text:
        where.append("positionCaseInsensitiveUTF8(title, %(text)s) > 0")
    sql = f"""
    SELECT cityHash64(incident_id) AS h, max(version) FROM {db}.incidents_by_report
    WHERE {" AND ".join(where)}
    GROUP BY h
    """
    return client.execute(sql, filter_params(flt, scope))


def match_candidates(
    state,
    found,
    flt: IncidentFilter,
    *,
    sort: str = "reported_at",
    descending: bool = True,
    offset: int = 0,
    limit: int = 25,
    scope: str | None = None,
) -> Found:
    """(total, the page's slots, …), sorted as `search_state` sorts, among `candidates` rows:
    incidents the cache holds whose latest version matches the title (the newest matching
    version is the newest version; a title filter compares the latest title, as the SQL search
    does) and the cache's filters (district, status, severity). Pure."""
    filters = _filters(state, flt, scope)
    if filters is None:
        return NOTHING
    district, statuses, min_severity = filters
    version, code = state.version, state.code
    slots = []
    for h, matched in found:
        slot = state.slot(h)
        if slot is None or (flt.text and matched != version[slot]):
            continue
        c = code[slot]
        if (
            (district is None or (c >> 32) & 0xFFFF in district)
            and (statuses is None or c & 0xFFFF in statuses)
            and c >> 56 >= min_severity
        ):
            slots.append(slot)
    reported = state.reported
    slots.sort(key=ReportedIndex._key(reported))
    offset, limit = max(0, int(offset)), max(1, min(int(limit), 200))
    if sort in GROUP_SORTS:
        value_of = _sort_value(state, sort)
        by_value: dict = {}
        for slot in slots:  # each value's slots stay sorted by (reported_at, slot)
            by_value.setdefault(value_of(code[slot]), []).append(slot)
        buckets = [[by_value[v]] for v in sorted(by_value, reverse=descending)]
        how = {"descending": descending, "offset": offset, "limit": limit}
        return _found_sorted(len(slots), buckets, reported, sort, **how)
    return _found(len(slots), [slots], reported, descending=descending, offset=offset, limit=limit)


def page_rows(
    client, db: str, state, found: Found, *, descending: bool = True, limit: int = 25
) -> list[dict]:
    """The wide latest rows of the page's incidents, in the SQL search's order (report time,
    then incident id; or the sort column, report time newest first, incident id): the rows of
    the page and of its ties, read from `incidents_by_report` by its primary key (report time);
    the hash picks the incidents."""
    slots = found.window or found.page
    if not slots:
        return []
    db = check_database_name(db)
    hashes = [state.keys[s] for s in slots]
    times = [state.reported[s] for s in slots]
    # PREWHERE: only the range's rows of the page's incidents are read in full (18.16 moves at
    # most one condition there by itself)
    params: dict = {"hashes": tuple(hashes)}
    if found.sort == "reported_at":
        at = "reported_at >= toDateTime(%(lo)s) AND reported_at <= toDateTime(%(hi)s)"
        params.update(lo=min(times), hi=max(times))
    else:
        # the window's report times lie apart (one run of them per value of the sort column):
        # each second is its own key range
        distinct = sorted(set(times))
        each = (f"reported_at = toDateTime(%(t{i})s)" for i in range(len(distinct)))
        at = "(" + " OR ".join(each) + ")"
        params.update({f"t{i}": t for i, t in enumerate(distinct)})
    prewhere = f"{at} AND cityHash64(incident_id) IN %(hashes)s"
    latest = (
        _LATEST_WIDE.replace("{db}.incidents\n", "{db}.incidents_by_report\n", 1)
        .replace("\nWHERE ", f"\nPREWHERE {prewhere}\nWHERE ", 1)
        .format(db=db, where="1")
    )
    sql = f"SELECT cityHash64(s_id), {_WIDE_SELECT} FROM ({latest})"
    rows = client.execute(sql, params)
    by_hash = {row[0]: row[1:] for row in rows}
    reported = dict(zip(hashes, times, strict=True))
    if found.sort == "reported_at":
        ordered = sorted(
            (h for h in hashes if h in by_hash),
            key=lambda h: (-reported[h] if descending else reported[h], by_hash[h][0]),
        )
    else:
        # the cache's value (the one the page was chosen by), then newest first, then id;
        # sort is stable, also with reverse=True
        value_of = _sort_value(state, found.sort)
        value = {state.keys[s]: value_of(state.code[s]) for s in slots}
        ordered = sorted(
            (h for h in hashes if h in by_hash), key=lambda h: (-reported[h], by_hash[h][0])
        )
        ordered.sort(key=value.__getitem__, reverse=descending)
    skip = max(0, found.skip) if found.window else 0
    return _wide_rows(by_hash[h] for h in ordered[skip : skip + max(1, min(int(limit), 200))])


def search_cached(
    snapshot,
    run,
    flt: IncidentFilter,
    *,
    now: int,
    sort: str = "reported_at",
    descending: bool = True,
    offset: int = 0,
    limit: int = 25,
    scope: str | None = None,
    max_age: float = 5.0,
) -> tuple[int, list[dict]] | None:
    """`search_incidents` from the cache (storage.snapshot.IncidentSnapshot), or None when the
    cache is not loaded (no wall has refreshed yet) or the sort is not cached (CACHED_SORTS:
    report time, severity, status, district). A cache older than `max_age` seconds applies its
    delta first. `run` is dashboard.backend.Backend.run."""
    if sort not in CACHED_SORTS or snapshot.loaded_view(now, max_age=max_age) is None:
        return None
    state = snapshot.state()
    how = {
        "sort": sort,
        "descending": descending,
        "offset": offset,
        "limit": limit,
        "scope": scope,
    }
    if flt.street or flt.category or flt.text:
        flt = text_bounded(flt)
        found = match_candidates(state, run(candidates, flt, scope=scope), flt, **how)
    else:
        found = search_state(state, snapshot.reported_index.update(state), flt, **how)
        if found is None:
            return None
    return found.total, run(page_rows, state, found, descending=descending, limit=limit)
