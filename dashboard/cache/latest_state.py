"""The latest narrow state of every incident, packed into arrays (~40 bytes per incident), and the
wall's counters over it (storage/measures.py), kept as versions arrive. Pure data, no I/O: the
dashboard's cache (dashboard/cache/snapshot.py) loads and feeds it from storage/incident_state.py,
the drill-down search (dashboard/cache/incident_search.py) scans it.
"""

from __future__ import annotations

import bisect
from array import array

from cityops.storage import measures
from cityops.storage.measures import OPEN_NAMES, WIN_NAMES

# flag bits of a packed state
_JOINT, _BREACHED, _ESCALATED, _REPEAT, _REOPENED, _SATISFIED, _MERGED = 1, 2, 4, 8, 16, 32, 64
# positions in a narrow row (incident_state.NARROW_KEYS)
_REPORTED, _CATEGORY, _RESOLVE_DUE, _MERGED_AT = 13, 14, 15, 16
DAY = 86400


class _Interned:
    """Strings (statuses, levels, districts, categories) as small ints, so a state packs into
    one integer (and a category into two bytes)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.values: list[str] = []

    def code(self, value: str) -> int:
        idx = self.index.get(value)
        if idx is None:
            if len(self.values) >= 0xFFFF:
                raise OverflowError("more than 65535 distinct values")
            idx = self.index[value] = len(self.values)
            self.values.append(value)
        return idx


class LatestState:
    """Latest narrow state per incident and the wall's counters over it. Pure data, no I/O,
    not thread-safe on its own (IncidentSnapshot serialises writers)."""

    def __init__(self, *, min_severity: int = 3) -> None:
        self.min_severity = min_severity
        self.keys = array("Q")  # cityHash64(incident_id); sorted up to n_sorted
        self.n_sorted = 0
        self.overflow: dict[int, int] = {}  # hash -> slot, incidents first seen after the load
        self.version = array("L")
        # status | level << 16 | district << 32 | flags << 48 | severity << 56
        self.code = array("Q")
        self.reported = array("L")
        # the drill-down's other sort columns, beside the packed state (which is full)
        self.category = array("H")  # slot -> code of the latest category (_category)
        self.resolve_due = array("I")  # slot -> latest resolve_due, unix seconds; 0: no deadline
        self.listed: dict[int, dict] = {}  # slot -> wide row: open and (severe or joint)
        self.open_sums: dict[str, list[int]] = {}  # district -> OPEN_NAMES
        self.win_sums: dict[str, list[int]] = {}  # district -> WIN_NAMES over the 24 h window
        self.window: list[tuple[int, int]] = []  # (reported_at, slot) sorted, from cover_start
        self.win_ptr = 0  # window[win_ptr:] are the incidents reported since win_start
        self.win_start: int | None = None
        self.cover_start = 0
        self.watermark: int | None = None  # newest updated_at seen
        self.statuses, self.levels, self.districts = _Interned(), _Interned(), _Interned()
        self.categories = _Interned()
        self._contrib: dict[int, tuple] = {}
        # slots whose packed state, category or resolve_due changed after they were added (the
        # search index follows them)
        self.changed = array("L")
        # the last delta's (hash, version, updated_at) heads, all decided and applied
        self.seen_heads: set[tuple] = set()

    # -- packing ---------------------------------------------------------------------------------
    def pack(self, row) -> int:
        """A narrow row (NARROW_KEYS) as one integer."""
        (_, _, _, status, level, district, joint, breached, escalated, repeat, reopened,
         satisfied, severity) = row[:_REPORTED]  # fmt: skip
        flags = (
            (_JOINT if joint else 0) | (_BREACHED if breached else 0)
            | (_ESCALATED if escalated else 0) | (_REPEAT if repeat else 0)
            | (_REOPENED if reopened else 0) | (_SATISFIED if satisfied else 0)
            | (_MERGED if row[_MERGED_AT] else 0)
        )  # fmt: skip
        return (
            self.statuses.code(status) | self.levels.code(level) << 16
            | self.districts.code(district) << 32 | flags << 48 | min(int(severity), 255) << 56
        )  # fmt: skip

    def contribution(self, code: int) -> tuple[str, tuple | None, tuple]:
        """(district, OPEN_NAMES increments or None when closed, WIN_NAMES increments)."""
        found = self._contrib.get(code)
        if found is not None:
            return found
        district = self.districts.values[(code >> 32) & 0xFFFF]
        flags = (code >> 48) & 0xFF
        opened, win = measures.contribution(
            measures.State(
                status=self.statuses.values[code & 0xFFFF],
                level=self.levels.values[(code >> 16) & 0xFFFF],
                joint=bool(flags & _JOINT),
                breached=bool(flags & _BREACHED),
                escalated=bool(flags & _ESCALATED),
                repeat=bool(flags & _REPEAT),
                reopened=bool(flags & _REOPENED),
                satisfied=bool(flags & _SATISFIED),
                merged=bool(flags & _MERGED),
            )
        )
        found = self._contrib[code] = (district, opened, win)
        return found

    def sort_columns(self, row) -> tuple[int, int]:
        """(category code, resolve_due) of a narrow row: what the search sorts by besides the
        packed state and the report time."""
        return self.categories.code(row[_CATEGORY]), int(row[_RESOLVE_DUE])

    def category_of(self, slot: int) -> str:
        return self.categories.values[self.category[slot]]

    def severity(self, code: int) -> int:
        return code >> 56

    def is_listed(self, code: int) -> bool:
        _, opened, _ = self.contribution(code)
        return opened is not None and (self.severity(code) >= self.min_severity or opened[1] == 1)

    # -- slots -----------------------------------------------------------------------------------
    def slot(self, h: int) -> int | None:
        i = bisect.bisect_left(self.keys, h, 0, self.n_sorted)
        if i < self.n_sorted and self.keys[i] == h:
            return i
        return self.overflow.get(h)

    def __len__(self) -> int:
        return len(self.keys)

    def _add(self, sums: dict[str, list[int]], district: str, vec, sign: int, width: int) -> None:
        row = sums.get(district)
        if row is None:
            row = sums[district] = [0] * width
        for i, v in enumerate(vec):
            if v:
                row[i] += sign * v

    def _count(self, slot: int, code: int, sign: int) -> None:
        district, opened, win = self.contribution(code)
        # a district with no open incident still gets its (zero) row, as the SQL counters did
        self._add(self.open_sums, district, opened or (), sign, len(OPEN_NAMES))
        if self.win_start is not None and self.reported[slot] >= self.win_start:
            self._add(self.win_sums, district, win, sign, len(WIN_NAMES))

    # -- loading and applying --------------------------------------------------------------------
    def load(self, rows, wide_rows=()) -> None:
        """Fill an empty state from rows sorted by hash (NARROW_KEYS), then the listed wide rows
        as (hash, wide row dict)."""
        last = -1
        for row in rows:
            h = row[0]
            if h <= last:
                raise ValueError("load rows must be sorted by hash, without duplicates")
            last = h
            self._append(row, self.pack(row))
            self.see(row[2])
        self.n_sorted = len(self.keys)
        for slot, code in enumerate(self.code):
            self._count(slot, code, +1)
        for h, wide in wide_rows:
            found = self.slot(h)
            if found is not None and self.is_listed(self.code[found]):
                self.listed[found] = wide

    def _append(self, row, code: int) -> int:
        """A new slot for the incident of a narrow row; returns it."""
        category, resolve_due = self.sort_columns(row)
        self.keys.append(row[0])
        self.version.append(row[1])
        self.code.append(code)
        self.reported.append(row[_REPORTED])
        self.category.append(category)
        self.resolve_due.append(resolve_due)
        return len(self.keys) - 1

    def see(self, updated_at: int) -> None:
        if self.watermark is None or updated_at > self.watermark:
            self.watermark = updated_at

    def apply(self, row, wide=None) -> bool:
        """One incident's latest state among newly read rows (NARROW_KEYS, then optionally the
        wide columns; `wide(row)` builds the listed row). Kept only when its version is newer
        than the one held. Returns whether it was."""
        h, version, updated_at = row[0], row[1], row[2]
        self.see(updated_at)
        slot = self.slot(h)
        if slot is not None and version <= self.version[slot]:
            return False  # a redelivered or late older version: the held one stays
        code = self.pack(row)
        if slot is None:
            slot = self._append(row, code)
            self.overflow[h] = slot
            self._count(slot, code, +1)
            self._enter_window(slot)
        else:
            self.version[slot] = version
            old = self.code[slot]
            if old != code:
                self._count(slot, old, -1)
                self.code[slot] = code
                self._count(slot, code, +1)
            category, resolve_due = self.sort_columns(row)
            if (old, category, resolve_due) != (code, self.category[slot], self.resolve_due[slot]):
                self.category[slot], self.resolve_due[slot] = category, resolve_due
                self.changed.append(slot)
        if self.is_listed(code) and wide is not None:
            self.listed[slot] = wide(row)
        else:
            self.listed.pop(slot, None)
        return True

    # -- the 24-hour window ----------------------------------------------------------------------
    def _enter_window(self, slot: int) -> None:
        reported = self.reported[slot]
        if self.win_start is None or reported < self.cover_start:
            return
        bisect.insort(self.window, (reported, slot))
        if reported < self.win_start:
            self.win_ptr += 1

    def advance(self, now: int) -> None:
        """Move the window of the rates to [now - 24 h, ...)."""
        start = now - DAY
        if self.win_start is None or start < self.cover_start:
            self._rebuild_window(start)
            return
        window, code = self.window, self.code
        while self.win_ptr < len(window) and window[self.win_ptr][0] < start:
            slot = window[self.win_ptr][1]
            district, _, win = self.contribution(code[slot])
            self._add(self.win_sums, district, win, -1, len(WIN_NAMES))
            self.win_ptr += 1
        while self.win_ptr > 0 and window[self.win_ptr - 1][0] >= start:
            self.win_ptr -= 1
            slot = window[self.win_ptr][1]
            district, _, win = self.contribution(code[slot])
            self._add(self.win_sums, district, win, +1, len(WIN_NAMES))
        self.win_start = start

    def _rebuild_window(self, start: int) -> None:
        # Keeps a day before the window too, so the window can step back a little (tests, clocks)
        self.cover_start = start - DAY
        self.window = sorted(
            (r, slot) for slot, r in enumerate(self.reported) if r >= self.cover_start
        )
        self.win_ptr = bisect.bisect_left(self.window, (start, -1))
        self.win_start = start
        self.win_sums = {}
        for _, slot in self.window[self.win_ptr :]:
            district, _, win = self.contribution(self.code[slot])
            self._add(self.win_sums, district, win, +1, len(WIN_NAMES))

    # -- reading ---------------------------------------------------------------------------------
    def memory_bytes(self) -> int:
        """Bytes held by the cache's containers (arrays, index, window, listed rows; approx.)."""
        import sys

        columns = (
            self.keys,
            self.version,
            self.code,
            self.reported,
            self.category,
            self.resolve_due,
        )
        arrays = sum(a.buffer_info()[1] * a.itemsize for a in columns)
        window = sys.getsizeof(self.window) + len(self.window) * 120  # tuple + two ints
        overflow = sys.getsizeof(self.overflow) + len(self.overflow) * 70
        listed = sys.getsizeof(self.listed) + sum(
            sys.getsizeof(w) + sum(sys.getsizeof(v) for v in w.values())
            for w in self.listed.values()
        )
        return arrays + window + overflow + listed
