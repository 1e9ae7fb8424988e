"""Drill-down search (`/incidents`) served from the wall's latest-state cache
(dashboard/cache/snapshot.py) when it can be: the page's slots are chosen with the cache's index
(dashboard/cache/search_index.py), so counting and paging need no aggregation over every version;
None sends the caller to SQL (storage/search_queries.py, which also holds the SQL this module runs).

Only the page's rows are read from ClickHouse, from `incidents_by_report` (migration 5: the
incident rows ordered by report time) as one primary-key range. Street, category and title filters
first find their incidents there too; the cache then says which of them match on their latest
version. Pages are ordered as the SQL orders them: the sort column, then report time newest first,
then incident id.
"""

from __future__ import annotations

import bisect
import heapq
from itertools import islice
from typing import NamedTuple

from cityops.dashboard.cache.search_index import (
    CACHED_SORTS,
    ReportedIndex,
    by_deadline,
    district_of,
    report_days,
    severity_of,
    slot_value,
    sort_buckets,
    status_of,
)
from cityops.storage.latest import wide_rows
from cityops.storage.search_queries import IncidentFilter, candidates, rows_by_report, text_bounded


def _codes(interned, values) -> set[int]:
    return {interned.index[v] for v in values if v in interned.index}


class Found(NamedTuple):
    """A search's answer from the cache. `page`: the page's slots, ties in report time broken
    by slot; `window`: every matching slot reported within the page's first and last report
    times (per value of the sort column; for resolve_due: the page with the rest of the ties
    of its first and last slot) and `skip`: how many of them come before the page. The SQL
    search breaks ties by incident id, which the cache does not hold: `page_rows` reads the
    window's rows, sorts them as the SQL does and keeps window[skip:skip + limit]. Without
    ties, window == page."""

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


def _found_in_order(total, ordered, tie, sort, *, offset: int, limit: int) -> Found:
    """A page of `ordered`, the matching slots in the SQL's order but for ties in `tie(slot)`
    (the SQL's sort values but the incident id): the window is the page with the rest of the
    tie groups of its first and last slot, so `page_rows` can order those by id."""
    if offset >= total:
        return Found(total, [], [], 0, sort)
    end = offset + limit
    window: list[int] = []
    start = 0  # where window[0] is in `ordered`
    last = None
    for i, slot in enumerate(ordered):
        value = tie(slot)
        if value != last:
            if i >= end:
                break
            if i <= offset:  # a tie group starts at or before the page: the earlier ones go
                window, start = [], i
            last = value
        window.append(slot)
    return Found(total, window[offset - start : end - start], window, offset - start, sort)


def _found_by_deadline(
    total, index, reported, runs, wanted, flt, *, descending: bool, offset: int, limit: int
) -> Found:
    """The deadline sort's page: from the merged report days when the matches are dense there,
    else by sorting the matches (`runs`: (group key, its slots in the range); `wanted`: their
    keys, or None when every group matches)."""
    due = index.due_of
    covered = sum(len(d) for d in report_days(index, flt))
    # merging reads ~(offset + limit) * covered / total slots; sorting reads total
    if total * total <= 2 * (offset + limit) * covered:
        sign = -1 if descending else 1
        ordered = sorted(
            (s for _, run in runs for s in run), key=lambda s: (sign * due[s], -reported[s])
        )
    else:
        ordered = by_deadline(index, reported, wanted, flt, descending=descending)
    tie = lambda s: (due[s], reported[s])  # noqa: E731
    return _found_in_order(total, ordered, tie, "resolve_due", offset=offset, limit=limit)


def _page(runs, reported, *, descending: bool, offset: int, limit: int) -> list[int]:
    """The page of slots from several runs each sorted by (reported_at, slot)."""
    if len(runs) == 1:
        run = runs[0]
        span = range(len(run) - 1, -1, -1) if descending else range(len(run))
        return [run[i] for i in span[offset : offset + limit]]
    key = ReportedIndex.key(reported)
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
    district = _codes(state.districts, districts) if districts else None
    statuses = _codes(state.statuses, flt.statuses) if flt.statuses else None
    if district == set() or statuses == set():
        return None
    return district, statuses, flt.min_severity or 0


def _matches(key: int, district, statuses, min_severity: int) -> bool:
    """Does an index key (or a packed state code: same bits) pass the cache's filters?"""
    return (
        (district is None or district_of(key) in district)
        and (statuses is None or status_of(key) in statuses)
        and severity_of(key) >= min_severity
    )


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
    """(total matching, the page's slots, …) sorted by report time (or by severity, status,
    district, category: GROUP_SORTS, or resolve_due), or None when the filter needs columns the
    cache does not hold (street, category, title: see `match_candidates`) or the sort is not
    cached. `index` is ReportedIndex.update(state). Pure: reads the state, no I/O."""
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
    for key, group in (index.by_category if sort == "category" else index.groups).items():
        if _matches(key, district, statuses, min_severity):
            lo = bisect.bisect_left(group, flt.since, key=by_time)
            hi = bisect.bisect_left(group, flt.until, key=by_time)
            if hi > lo:
                runs.append((key, group[lo:hi]))
    total = sum(len(r) for _, r in runs)
    if sort == "resolve_due":
        unfiltered = district is None and statuses is None and not min_severity
        wanted = None if unfiltered else {key for key, _ in runs}
        return _found_by_deadline(
            total,
            index,
            reported,
            runs,
            wanted,
            flt,
            descending=descending,
            offset=offset,
            limit=limit,
        )
    if sort != "reported_at":
        buckets = sort_buckets(state, sort, runs, descending=descending)
        return _found_sorted(
            total, buckets, reported, sort, descending=descending, offset=offset, limit=limit
        )
    return _found(
        total, [r for _, r in runs], reported, descending=descending, offset=offset, limit=limit
    )


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
        if _matches(code[slot], district, statuses, min_severity):
            slots.append(slot)
    reported = state.reported
    slots.sort(key=ReportedIndex.key(reported))
    offset, limit = max(0, int(offset)), max(1, min(int(limit), 200))
    if sort != "reported_at":
        value_of = slot_value(state, sort)
        by_value: dict = {}
        for slot in slots:  # each value's slots stay sorted by (reported_at, slot)
            by_value.setdefault(value_of(slot), []).append(slot)
        buckets = [[by_value[v]] for v in sorted(by_value, reverse=descending)]
        return _found_sorted(
            len(slots), buckets, reported, sort, descending=descending, offset=offset, limit=limit
        )
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
    hashes = [state.keys[s] for s in slots]
    times = [state.reported[s] for s in slots]
    by_hash = rows_by_report(client, db, hashes, times, one_range=found.sort == "reported_at")
    reported = dict(zip(hashes, times, strict=True))
    if found.sort == "reported_at":
        ordered = sorted(
            (h for h in hashes if h in by_hash),
            key=lambda h: (-reported[h] if descending else reported[h], by_hash[h][0]),
        )
    else:
        # the cache's value (the one the page was chosen by), then newest first, then id;
        # sort is stable, also with reverse=True
        value_of = slot_value(state, found.sort)
        value = {state.keys[s]: value_of(s) for s in slots}
        ordered = sorted(
            (h for h in hashes if h in by_hash), key=lambda h: (-reported[h], by_hash[h][0])
        )
        ordered.sort(key=value.__getitem__, reverse=descending)
    skip = max(0, found.skip) if found.window else 0
    return wide_rows(by_hash[h] for h in ordered[skip : skip + max(1, min(int(limit), 200))])


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
    """`search_incidents` from the cache (cityops.dashboard.cache.snapshot.IncidentSnapshot), or
    None when the cache is not loaded (no wall has refreshed yet) or the sort is not cached
    (CACHED_SORTS: report time, severity, status, district, category, resolve_due). A cache older
    than `max_age` seconds applies its delta first. `run` is
    cityops.dashboard.backend.Backend.run."""
    if sort not in CACHED_SORTS or snapshot.loaded_view(now, max_age=max_age) is None:
        return None
    if scope and len(scope) != 6:
        return None  # a street or community scope: SQL (the cache knows districts only)
    state = snapshot.state()
    found: Found | None
    if flt.street or flt.category or flt.text:
        flt = text_bounded(flt)
        found = match_candidates(
            state,
            run(candidates, flt, scope=scope),
            flt,
            sort=sort,
            descending=descending,
            offset=offset,
            limit=limit,
            scope=scope,
        )
    else:
        found = search_state(
            state,
            snapshot.reported_index.update(state),
            flt,
            sort=sort,
            descending=descending,
            offset=offset,
            limit=limit,
            scope=scope,
        )
        if found is None:
            return None
    return found.total, run(page_rows, state, found, descending=descending, limit=limit)
