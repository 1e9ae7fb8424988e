"""The wall's latest-state cache: every incident's latest narrow state held in the dashboard
process (dashboard/cache/latest_state.py), the wall's counters maintained as versions arrive, and
a published view that readers take without waiting. Reads come from storage/incident_state.py;
the wall (dashboard/pages/wall.py) reads `IncidentSnapshot.refresh`.

Why: the latest state is an argMax over every stored version; recomputing it per refresh costs
O(versions). Here a refresh reads only the rows written since the watermark (the newest
`updated_at` seen, minus a margin for late rows), keeps a version only when it is newer than the
one held, and adjusts the counters by the difference. "Same time yesterday" moves slowly: it is
recomputed in a background thread every minute, never in the refresh path. A full reload in the
background every few minutes heals rows that arrived later than the margin.
"""

from __future__ import annotations

import heapq
import threading
import time
from dataclasses import dataclass, field

from cityops.dashboard.cache.latest_state import DAY, LatestState
from cityops.dashboard.cache.search_index import ReportedIndex
from cityops.storage import incident_state as st
from cityops.storage.latest import SCOPE_COLUMNS, WIDE_KEYS
from cityops.storage.measures import COUNTER_NAMES, OPEN_NAMES, WIN_NAMES
from cityops.storage.wall_queries import IncidentCounters

__all__ = ["DAY", "IncidentSnapshot", "LatestState", "View", "wide_row"]


@dataclass(frozen=True)
class View:
    """What one refresh reads: an immutable copy, safe to share between threads."""

    open_sums: dict[str, tuple[int, ...]]
    win_sums: dict[str, tuple[int, ...]]
    yesterday: dict[str, dict[str, int]]
    listed: tuple[dict, ...]
    min_severity: int
    at: float = 0.0
    stats: dict = field(default_factory=dict)

    def counters(self, scope: str | None = None) -> IncidentCounters:
        out = IncidentCounters()
        districts = set(self.open_sums) | set(self.win_sums) | set(self.yesterday)
        for district in districts:
            if scope and district != scope:
                continue
            row = dict.fromkeys(COUNTER_NAMES, 0)
            row.update(zip(OPEN_NAMES, self.open_sums.get(district, ()), strict=False))
            row.update(zip(WIN_NAMES, self.win_sums.get(district, ()), strict=False))
            row.update(self.yesterday.get(district, {}))
            out.by_district[district] = row
        return out

    def severe_open(self, *, limit: int = 300, scope: str | None = None) -> list[dict]:
        """Open incidents of severity >= min_severity, the most severe and newest first."""
        rows = (
            w for w in self.listed
            if w["severity"] >= self.min_severity and (not scope or in_scope(w, scope))
        )  # fmt: skip
        return heapq.nsmallest(
            limit, rows, key=lambda w: (-w["severity"], -w["reported_at"], w["incident_id"])
        )

    def joint_open(self, *, limit: int = 8, scope: str | None = None) -> list[dict]:
        """Open incidents in joint handling, the ones closest to (or past) their deadline first."""
        rows = (w for w in self.listed if w["joint"] == 1 and (not scope or in_scope(w, scope)))
        return heapq.nsmallest(limit, rows, key=lambda w: (w["resolve_due"], w["incident_id"]))


def in_scope(row: dict, scope: str) -> bool:
    """Whether a wide row is in a user's unit (district, street; a community scope matches no
    wide row: those lists come from SQL then)."""
    column = SCOPE_COLUMNS.get(len(scope))
    return column is not None and row.get(column) == scope


def wide_row(row) -> dict:
    """The wall's wide row (cityops.storage.latest.WIDE_KEYS) of a delta row (NARROW_KEYS +
    DELTA_WIDE_KEYS)."""
    width = len(st.NARROW_KEYS)
    narrow = dict(zip(st.NARROW_KEYS, row[:width], strict=True))
    wide = dict(zip(st.DELTA_WIDE_KEYS, row[width:], strict=True))
    merged = {**narrow, **wide}
    merged["joint"] = int(narrow["joint"])
    return {key: merged[key] for key in WIDE_KEYS}


class IncidentSnapshot:
    """The cache with its threads. `run(query, **kwargs)` runs a storage query with the calling
    thread's ClickHouse client (cityops.dashboard.backend.Backend.run). One refresher at a time; a
    refresh that finds one in progress waits for it and reads its result."""

    def __init__(
        self,
        run,
        *,
        margin_seconds: int = 30,
        yesterday_seconds: float = 60,
        reload_seconds: float = 600,
        min_interval: float = 1.0,
        min_severity: int = 3,
        clock=time.time,
    ) -> None:
        self._run = run
        self.margin = margin_seconds
        self.yesterday_seconds = yesterday_seconds
        self.reload_seconds = reload_seconds
        self.min_interval = min_interval
        self.min_severity = min_severity
        self._clock = clock
        self._lock = threading.Lock()
        self._state: LatestState | None = None
        self._view: View | None = None
        self._yesterday: dict[str, dict[str, int]] = {}
        self._thread: threading.Thread | None = None
        self._loader: threading.Thread | None = None
        self._stop = threading.Event()
        self.stats: dict = {}
        # for the drill-down search (dashboard/cache/incident_search.py)
        self.reported_index = ReportedIndex()

    # -- loading ---------------------------------------------------------------------------------
    def _load_state(self) -> LatestState:
        state = LatestState(min_severity=self.min_severity)
        started = time.perf_counter()

        def load(client, db):
            wide = st.listed_wide(client, db, min_severity=self.min_severity)
            state.load(st.load_latest(client, db), wide)

        self._run(load)
        self.stats["load_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return state

    def _apply_delta(self, state: LatestState, now: int) -> None:
        since = 0 if state.watermark is None else state.watermark - self.margin
        # The margin re-reads rows already applied: first only (hash, newest version), then
        # the wide rows of the incidents whose newest version the cache does not hold yet.
        heads = set(self._run(st.delta_heads, since=since))
        if heads:
            state.see(max(updated_at for _, _, updated_at in heads))
        # A head read by the previous delta as well was decided then (and its rows applied):
        # the held version can only have grown since, so only new heads are looked up.
        fresh = []
        for h, version, _ in heads - state.seen_heads:
            slot = state.slot(h)
            if slot is None or version > state.version[slot]:
                fresh.append(h)
        rows = self._run(st.delta_since, since=since, hashes=tuple(fresh)) if fresh else []
        # a row with an old version of an incident changes nothing (apply compares versions)
        for row in rows:
            state.apply(row, wide_row)
        state.advance(now)
        state.seen_heads = heads
        self.stats["delta_rows"] = len(rows)
        self.stats["delta_heads"] = len(heads)

    def _publish(self, state: LatestState) -> View:
        self._view = View(
            open_sums={d: tuple(v) for d, v in state.open_sums.items()},
            win_sums={d: tuple(v) for d, v in state.win_sums.items()},
            yesterday=self._yesterday,
            listed=tuple(state.listed.values()),
            min_severity=self.min_severity,
            at=time.monotonic(),
            stats=dict(self.stats, incidents=len(state)),
        )
        return self._view

    def refresh(self, now: int) -> View:
        """The view as of now: applies the rows written since the last refresh (at most one
        delta per `min_interval` across all threads)."""
        with self._lock:
            view = self._view
            if (
                view is not None
                and time.monotonic() - view.at < self.min_interval
                and self._state is not None
                and self._state.win_start == now - DAY
            ):
                return view
            if self._state is None:
                self._state = self._load_state()
                self.update_yesterday(now)
                self._start_background()
            self._apply_delta(self._state, now)
            return self._publish(self._state)

    def view(self) -> View | None:
        """The last published view, without touching storage."""
        return self._view

    def loaded_view(self, now: int, *, max_age: float = 5.0) -> View | None:
        """The view for a page other than the wall: None when no wall has loaded the cache yet
        (the caller then asks SQL), else the last view, after applying the delta when it is
        older than `max_age` seconds (so a page sees incidents at most ~max_age late)."""
        view = self._view
        if view is None:
            self.load_in_background()
            return None
        if time.monotonic() - view.at > max_age:
            view = self.refresh(now)
        return view

    def load_in_background(self) -> None:
        """Load the cache in a thread of its own when no wall has loaded it yet, so the other
        pages need SQL only for the first seconds after the dashboard starts."""
        with self._lock:
            if self._state is not None or self._loader is not None:
                return
            self._loader = threading.Thread(
                target=self._load_once, name="cityops-snapshot-load", daemon=True
            )
            self._loader.start()

    def _load_once(self) -> None:
        try:
            self.refresh(int(self._clock()))
        except Exception:  # noqa: BLE001 - storage may be down; the next page asks again
            pass
        finally:
            self._loader = None

    def state(self) -> LatestState | None:
        """The live state (for read-only scans such as the drill-down search), or None."""
        return self._state

    # -- background: yesterday's counters and the periodic full reload ---------------------------
    def _start_background(self) -> None:
        if self._thread is None and (self.yesterday_seconds or self.reload_seconds):
            self._thread = threading.Thread(
                target=self._background, name="cityops-snapshot", daemon=True
            )
            self._thread.start()

    def _background(self) -> None:
        next_y = time.monotonic() + self.yesterday_seconds
        next_reload = time.monotonic() + self.reload_seconds
        self._build_index()
        while not self._stop.wait(max(0.5, min(next_y, next_reload) - time.monotonic())):
            try:
                if self.yesterday_seconds and time.monotonic() >= next_y:
                    self.update_yesterday(int(self._clock()))
                    next_y = time.monotonic() + self.yesterday_seconds
                if self.reload_seconds and time.monotonic() >= next_reload:
                    self.reload()
                    self._build_index()
                    next_reload = time.monotonic() + self.reload_seconds
            except Exception:  # noqa: BLE001 - storage may be down; the next round retries
                next_y = next_reload = time.monotonic() + 5

    def _build_index(self) -> None:
        """Sort a newly loaded state for the drill-down search here, off the search path
        (~2.6 s at 1M incidents)."""
        state = self._state
        if state is not None:
            self.reported_index.update(state)

    def update_yesterday(self, now: int) -> None:
        """Recompute the "same time yesterday" counters; the next refresh publishes them."""
        self._yesterday = self._run(st.yesterday_counters, now=now)

    def reload(self) -> None:
        """Load a fresh state off the refresh path, then swap it in (heals very late rows)."""
        state = self._load_state()
        with self._lock:
            if self._state is not None and self._state.win_start is not None:
                self._apply_delta(state, self._state.win_start + DAY)
                self._state = state
                self._publish(state)

    def close(self) -> None:
        self._stop.set()
