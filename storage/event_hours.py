"""The wall's event counts from per-hour counts cached in the dashboard process. Reads come from
storage/queries.py (`event_hour_rows`, `event_hour_counts`, `events_between`); the wall
(dashboard/pages/wall.py) reads `EventHours.refresh(now)`.

Why: "events today" and the top categories are `uniqExact(id)` over everything since yesterday's
midnight (millions of rows at 10M events). An event's redeliveries have the same `time`, so they
fall in the same hour, and distinct ids per hour can be summed over hours. An hour is recounted
only when `event_hours` (migration 4: rows inserted per hour, fed by a materialized view) says it
received rows since it was counted; closed hours that get no late rows are never read again.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from storage import queries as q

HOUR = 3600
DAY = 86400


@dataclass(frozen=True)
class HourCounts:
    """Distinct events of one hour: all events per district, reports per (district, category)."""

    events: dict[str, int] = field(default_factory=dict)
    reports: dict[tuple[str, str], int] = field(default_factory=dict)


def hour_counts(rows) -> dict[int, HourCounts]:
    """(hour, district, category, is_report, n) rows -> {hour: HourCounts} (pure)."""
    out: dict[int, HourCounts] = {}
    for hour, district, category, is_report, n in rows:
        counts = out.setdefault(int(hour), HourCounts())
        counts.events[district] = counts.events.get(district, 0) + int(n)
        if is_report:
            key = (district, category)
            counts.reports[key] = counts.reports.get(key, 0) + int(n)
    return out


def stale_hours(cached_rows: dict[int, int], stored_rows: dict[int, int]) -> list[int]:
    """Hours whose inserted-row count differs from the one they were counted at (pure)."""
    return sorted(h for h, n in stored_rows.items() if cached_rows.get(h) != n)


class EventHours:
    """Per-hour distinct event counts since yesterday's midnight, kept up to date by recounting
    only the hours that received rows. `run(query, **kwargs)` runs a storage query with the
    calling thread's client (dashboard.backend.Backend.run). One refresher at a time."""

    def __init__(self, run, *, min_interval: float = 1.0) -> None:
        self._run = run
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._hours: dict[int, HourCounts] = {}
        self._rows: dict[int, int] = {}  # hour -> inserted rows when it was counted
        self._at = 0.0
        self._partial: dict[tuple[int, int], dict[str, int]] = {}
        self.stats: dict = {}

    def refresh(self, *, today_start: int, now: int) -> EventHours:
        """Recount the hours since yesterday's midnight that received rows since last time."""
        with self._lock:
            if time.monotonic() - self._at < self.min_interval and self._hours:
                return self
            since = today_start - DAY
            stored = dict(self._run(q.event_hour_rows, since=since))
            todo = stale_hours(self._rows, stored)
            if todo:
                counted = hour_counts(
                    self._run(q.event_hour_counts, since=todo[0], until=todo[-1] + HOUR)
                )
                for hour in todo:
                    self._hours[hour] = counted.get(hour, HourCounts())
                    self._rows[hour] = stored[hour]
            for hour in [h for h in self._hours if h < since]:
                del self._hours[hour], self._rows[hour]
            self._partial = {}
            self._at = time.monotonic()
            self.stats = {"recounted_hours": len(todo), "hours": len(self._hours)}
            return self

    # -- answers (the same shapes as storage.queries.event_counts / top_categories) --------------
    def _sum_events(self, lo: int, hi: int | None, scope: str | None) -> int:
        total = 0
        for hour, counts in self._hours.items():
            if hour >= lo and (hi is None or hour < hi):
                total += counts.events.get(scope, 0) if scope else sum(counts.events.values())
        return total

    def event_counts(self, *, today_start: int, now: int, scope: str | None = None) -> dict:
        """Events since local midnight, and since yesterday's midnight up to now − 24 h: whole
        hours from the cache, the part of the hour holding now − 24 h read from storage (one
        primary-key range, at most an hour)."""
        with self._lock:
            return self._event_counts(today_start, now, scope)

    def _event_counts(self, today_start: int, now: int, scope: str | None) -> dict:
        ynow = now - DAY
        cut = ynow - ynow % HOUR
        key = (cut, ynow)
        partial = self._partial.get(key)
        if partial is None:
            partial = dict(self._run(q.events_between, since=cut, until=ynow))
            self._partial = {key: partial}
        head = partial.get(scope, 0) if scope else sum(partial.values())
        return {
            "today": self._sum_events(today_start, None, scope),
            "yesterday": self._sum_events(today_start - DAY, cut, scope) + head,
        }

    def top_categories(
        self, *, since: int, limit: int = 8, scope: str | None = None
    ) -> list[tuple[str, int]]:
        """Reports per category since `since` (an hour boundary), the largest first."""
        totals: Counter[str] = Counter()
        with self._lock:
            hours = list(self._hours.items())
        for hour, counts in hours:
            if hour >= since:
                for (district, category), n in counts.reports.items():
                    if not scope or district == scope:
                        totals[category] += n
        ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
        return ranked[:limit]
