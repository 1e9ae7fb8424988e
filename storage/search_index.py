"""The drill-down search's in-memory index over the latest-state cache: its slots sorted by report
time, by group (status, district, severity, category) and by report day for the deadline sort.
storage/snapshot.py keeps it up to date; storage/incident_search.py pages through it.
"""

from __future__ import annotations

import bisect
import heapq
import threading
import weakref
from array import array

from cityops.storage.queries import IncidentFilter

# The part of a packed state (snapshot.LatestState.pack) a search filters on:
# status | district << 32 | severity << 56.
GROUP_MASK = 0xFFFF | 0xFFFF << 32 | 0xFF << 56
DAY = 86400
SLOTS = "I"  # the typecode of the index's runs of slots: 4 bytes each


def _keyed(state, slot: int) -> int:
    """A slot's key in the index: the GROUP_MASK part of its packed state, with its category
    code in the bits of the level (which no search reads)."""
    return state.code[slot] & GROUP_MASK | state.category[slot] << 16


# the parts of an index key (_keyed): the state's interned codes, and the severity
def status_of(key: int) -> int:
    return key & 0xFFFF


def district_of(key: int) -> int:
    return (key >> 32) & 0xFFFF


def severity_of(key: int) -> int:
    return key >> 56


def category_of(key: int) -> int:
    return (key >> 16) & 0xFFFF


class ReportedIndex:
    """The cache's slots sorted by report time (`order`); the same split by (status, district,
    severity) (`groups`: a few hundred sorted arrays) and by (status, district, severity,
    category) (`by_category`: a few thousand), so a filtered search counts by bisecting and
    pages by merging instead of passing over every incident of its window; and by report day,
    each day sorted by (resolve_due, reported_at, slot) (`deadlines`), for the deadline sort.
    Built once per loaded state; then new slots are inserted and slots whose state changed
    (LatestState.changed) move. Report time is fixed at opening, so a slot's place in `order`
    never changes; the other orders are by (reported_at, slot)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # The state the index was built from. A weak reference, compared by identity: an id()
        # could be reused by a state loaded after this one is freed (the index would then skip
        # the rebuild), and a strong one would keep a replaced state's arrays alive.
        self._built_from: weakref.ref | None = None
        self.order: list[int] = []
        self.groups: dict[int, array] = {}  # GROUP_MASK part of a key -> slots
        self.by_category: dict[int, array] = {}  # key (_keyed) -> slots
        self.deadlines: dict[int, array] = {}  # report day -> slots
        self.key_of = array("Q")  # slot -> the key it is filed under
        self.due_of = array("I")  # slot -> the resolve_due it is filed under
        self._changes = 0  # LatestState.changed[:_changes] are filed
        self.indexed = 0

    def update(self, state) -> ReportedIndex:
        with self._lock:
            reported = state.reported
            n = len(reported)
            if self._built_from is None or self._built_from() is not state:
                # changes logged from here on are filed below, whatever this pass read
                self._changes = len(state.changed)
                self._build(state, n)
            by_time, by_due = self._key(reported), self._due_key(reported)
            for slot in range(self.indexed, n):
                bisect.insort(self.order, slot, key=reported.__getitem__)
                key = _keyed(state, slot)
                self.key_of.append(key)
                self.due_of.append(state.resolve_due[slot])
                for runs, at, by in (
                    (self.groups, key & GROUP_MASK, by_time),
                    (self.by_category, key, by_time),
                    (self.deadlines, reported[slot] // DAY, by_due),
                ):
                    bisect.insort(runs.setdefault(at, array(SLOTS)), slot, key=by)
            self.indexed = n
            changed = state.changed
            end = len(changed)
            for i in range(self._changes, end):
                slot = changed[i]
                if slot < n:  # else added after this update began: filed by the next one
                    self._refile(state, slot, by_time, by_due)
            self._changes = end
            return self

    def _build(self, state, n: int) -> None:
        reported = state.reported
        order = sorted(range(n), key=reported.__getitem__)
        key_of = array("Q", bytes(8 * n))
        groups: dict[int, array] = {}
        by_category: dict[int, array] = {}
        code, category = state.code, state.category
        for slot in order:  # _keyed, inline: ~1M times
            key = key_of[slot] = code[slot] & GROUP_MASK | category[slot] << 16
            run = by_category.get(key)
            if run is None:
                run = by_category[key] = array(SLOTS)
            run.append(slot)
            key &= GROUP_MASK
            run = groups.get(key)
            if run is None:
                run = groups[key] = array(SLOTS)
            run.append(slot)
        due_of = state.resolve_due[:n]
        days: dict[int, array] = {}
        i = 0
        while i < n:  # each day is a slice of `order`, which a stable sort by resolve_due keeps
            day = reported[order[i]] // DAY
            j = bisect.bisect_left(order, (day + 1) * DAY, i, key=reported.__getitem__)
            days[day] = array(SLOTS, sorted(order[i:j], key=due_of.__getitem__))
            i = j
        self.order, self.groups, self.by_category, self.deadlines = order, groups, by_category, days
        self.key_of, self.due_of = key_of, due_of
        self._built_from, self.indexed = weakref.ref(state), n

    def _refile(self, state, slot: int, by_time, by_due) -> None:
        """Move a slot whose key or resolve_due changed to where it now belongs."""
        key, old = _keyed(state, slot), self.key_of[slot]
        if key != old:
            if key & GROUP_MASK != old & GROUP_MASK:
                _move(self.groups, old & GROUP_MASK, key & GROUP_MASK, slot, by_time)
            _move(self.by_category, old, key, slot, by_time)
            self.key_of[slot] = key
        due = state.resolve_due[slot]
        if due != self.due_of[slot]:
            day = self.deadlines[state.reported[slot] // DAY]
            del day[bisect.bisect_left(day, by_due(slot), key=by_due)]
            self.due_of[slot] = due
            bisect.insort(day, slot, key=by_due)

    @staticmethod
    def _key(reported):
        return lambda slot: (reported[slot], slot)

    def _due_key(self, reported):
        due = self.due_of
        return lambda slot: (due[slot], reported[slot], slot)


def _move(groups: dict[int, array], old: int, new: int, slot: int, by_time) -> None:
    group = groups[old]
    del group[bisect.bisect_left(group, by_time(slot), key=by_time)]
    bisect.insort(groups.setdefault(new, array(SLOTS)), slot, key=by_time)


# sorts the cache serves besides report time and resolve_due: the part of a key each sorts by
GROUP_SORTS = {"severity": severity_of, "status": status_of, "district": district_of,
               "category": category_of}  # fmt: skip
CACHED_SORTS = {"reported_at", "resolve_due", *GROUP_SORTS}


def _sort_value(state, sort: str):
    """index key (_keyed) -> the value the SQL search sorts by (strings compare as in
    ClickHouse: UTF-8 bytes, the order of their code points, as Python compares them)."""
    if sort == "severity":
        return severity_of
    interned = {"status": state._status, "district": state._district, "category": state._category}
    values, part = interned[sort].values, GROUP_SORTS[sort]
    return lambda key: values[part(key)]


def slot_value(state, sort: str):
    """slot -> the value the SQL search sorts by (a sort other than report time)."""
    if sort == "resolve_due":
        return state.resolve_due.__getitem__
    value_of = _sort_value(state, sort)
    return lambda slot: value_of(_keyed(state, slot))


def sort_buckets(state, sort: str, keyed_runs, *, descending: bool) -> list[list]:
    """(index key, run) pairs -> the runs grouped by the sort column's value, in order."""
    value_of = _sort_value(state, sort)
    by_value: dict = {}
    for key, run in keyed_runs:
        by_value.setdefault(value_of(key), []).append(run)
    return [by_value[v] for v in sorted(by_value, reverse=descending)]


def report_days(index, flt: IncidentFilter) -> list:
    """The index's report days (`deadlines`) that the filter's report-time range touches."""
    first, last = flt.since // DAY, (flt.until - 1) // DAY
    return [slots for day, slots in index.deadlines.items() if first <= day <= last]


def by_deadline(index, reported, keys, flt: IncidentFilter, *, descending: bool):
    """The matching slots of the filter's report-time range in the deadline sort's order
    (resolve_due in its direction, then reported_at newest first, then slot), lazily: the
    range's report days (`index.deadlines`, each by (resolve_due, reported_at, slot)) merged,
    each filtered by report time and by group key (`keys`, None for any)."""
    due, key_of = index.due_of, index.key_of
    since, until = flt.since, flt.until
    days = report_days(index, flt)

    def matching(slots):
        for s in slots:
            if since <= reported[s] < until and (keys is None or key_of[s] & GROUP_MASK in keys):
                yield s

    if descending:
        return heapq.merge(
            *(matching(reversed(d)) for d in days),
            key=lambda s: (due[s], reported[s], s),
            reverse=True,
        )
    return heapq.merge(
        *(matching(_newest_first_per_due(d, due)) for d in days),
        key=lambda s: (due[s], -reported[s], -s),
    )


def _newest_first_per_due(day, due):
    """A day's slots by resolve_due, each resolve_due's slots backwards (newest first)."""
    i, n = 0, len(day)
    while i < n:
        j = bisect.bisect_right(day, due[day[i]], i, n, key=due.__getitem__)
        yield from reversed(day[i:j])
        i = j
