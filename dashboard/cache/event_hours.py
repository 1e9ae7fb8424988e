"""The wall's event counts from per-hour counts cached in the dashboard process. Reads come from
storage/event_queries.py (`event_hour_rows`, `event_hour_counts`, `event_minute_counts`,
`events_between`); the wall (dashboard/pages/wall.py) reads `EventHours.refresh(now)`.

Why: "events today" and the top categories are `uniqExact(id)` over everything since yesterday's
midnight (millions of rows at 10M events). An event's redeliveries have the same `time`, so they
fall in the same hour, and distinct ids per hour can be summed over hours. An hour is recounted
only when `event_hours` (migration 4: rows inserted per hour, fed by a materialized view) says it
received rows since it was counted; closed hours that get no late rows are never read again.
The events-per-minute chart (last hour, reports per minute and channel) is kept the same way:
the hours that overlap the last hour also hold their per-minute counts, recounted with the hour.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from cityops.storage import event_queries as q

HOUR = 3600
DAY = 86400
MINUTE = 60
EPM_SECONDS = 3600  # the events-per-minute chart's span


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


def minute_counts(rows, hours: list[int]) -> dict[int, dict[tuple[int, str, str], int]]:
    """(minute, district, channel, n) rows -> {hour: {(minute, district, channel): n}} for the
    given sorted hour starts (pure)."""
    out: dict[int, dict[tuple[int, str, str], int]] = {h: {} for h in hours}
    for minute, district, channel, n in rows:
        minute = int(minute)
        i = bisect.bisect_right(hours, minute) - 1
        if i < 0 or minute >= hours[i] + HOUR:
            continue  # an hour between the given ones, counted already
        hour = hours[i]
        key = (minute, district, channel)
        out[hour][key] = out[hour].get(key, 0) + int(n)
    return out


def per_minute(counts, *, since: int, scope: str | None = None) -> list[tuple[int, str, int]]:
    """{(minute, district, channel): n} -> [(minute, channel or 'other', n)] for minutes >= since,
    summed over districts (or the scope's only), sorted as queries.events_per_minute (pure)."""
    totals: dict[tuple[int, str], int] = {}
    for (minute, district, channel), n in counts.items():
        if minute >= since and (not scope or district == scope):
            totals[(minute, channel)] = totals.get((minute, channel), 0) + n
    return [(m, c or "other", n) for (m, c), n in sorted(totals.items()) if n]


def stale_hours(cached_rows: dict[int, int], stored_rows: dict[int, int]) -> list[int]:
    """Hours whose inserted-row count differs from the one they were counted at (pure)."""
    return sorted(h for h, n in stored_rows.items() if cached_rows.get(h) != n)


class EventHours:
    """Per-hour distinct event counts since yesterday's midnight, kept up to date by recounting
    only the hours that received rows. `run(query, **kwargs)` runs a storage query with the
    calling thread's client (cityops.dashboard.backend.Backend.run). One refresher at a time."""

    def __init__(self, run, *, min_interval: float = 1.0) -> None:
        self._run = run
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._hours: dict[int, HourCounts] = {}
        self._rows: dict[int, int] = {}  # hour -> inserted rows when it was counted
        self._at = 0.0
        self._partial: dict[tuple[int, int], dict[str, int]] = {}
        # hour -> {(minute, district, channel): reports}, for the hours overlapping the last hour
        self._minutes: dict[int, dict[tuple[int, str, str], int]] = {}
        self._minute_head: dict[int, dict[tuple[int, str, str], int]] = {}
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
            minutes = self._count_minutes(set(todo), stored, now)
            self._partial = {}
            self._at = time.monotonic()
            self.stats = {
                "recounted_hours": len(todo),
                "hours": len(self._hours),
                "minute_hours": minutes,
            }
            return self

    def _count_minutes(self, recounted: set[int], stored: dict[int, int], now: int) -> int:
        """Per-minute counts of the hours overlapping the chart's span that were just recounted
        or have none yet (one primary-key range read); drops hours that left the span."""
        start = now - EPM_SECONDS
        for hour in [h for h in self._minutes if h + HOUR <= start - HOUR]:
            del self._minutes[hour]
        todo = sorted(
            h for h in stored if h + HOUR > start and (h in recounted or h not in self._minutes)
        )
        if todo:
            rows = self._run(q.event_minute_counts, since=todo[0], until=todo[-1] + HOUR)
            self._minutes.update(minute_counts(rows, todo))
        return len(todo)

    # -- answers (the shapes of cityops.storage.event_queries.event_counts / top_categories) --
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

    def events_per_minute(self, *, now: int, scope: str | None = None) -> list[tuple]:
        """(minute unix, channel, reports) over the last hour, as queries.events_per_minute:
        whole minutes from the cache, the minute holding now − 1 h (when the hour does not
        start on a minute) read from storage (one primary-key range, under a minute)."""
        start = now - EPM_SECONDS
        head_end = start + (-start) % MINUTE  # the first whole minute of the span
        with self._lock:
            counts = {
                key: n
                for hour, minutes in self._minutes.items()
                if hour + HOUR > head_end
                for key, n in minutes.items()
                if key[0] >= head_end
            }
            if head_end > start:
                head = self._minute_head.get(start)
                if head is None:
                    rows = self._run(q.event_minute_counts, since=start, until=head_end)
                    head = {(int(m), d, c): int(n) for m, d, c, n in rows}
                    self._minute_head = {start: head}
                counts.update(head)
        return per_minute(counts, since=start - start % MINUTE, scope=scope)

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
