"""The per-hour event cache: hours are recounted only when event_hours says they got rows, and
sums over hours answer "events today", "same time yesterday" and the top categories. Storage is
a fake `run` that serves the four queries from a list of (time, id, district, category, type,
channel)."""

from __future__ import annotations

from cityops.storage import queries as q
from cityops.storage.event_hours import DAY, HOUR, EventHours, stale_hours

MIDNIGHT = 1_800_000_000 - 1_800_000_000 % HOUR
REPORT = "city.report.v1"


class FakeStorage:
    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.inserted: dict[int, int] = {}
        self.counted: list[tuple[int, int]] = []
        self.minutes_read: list[tuple[int, int]] = []

    def add(
        self, time, id, district="320105", category="road", type=REPORT, channel="hotline"
    ) -> None:
        self.events.append((time, id, district, category, type, channel))
        hour = time - time % HOUR
        self.inserted[hour] = self.inserted.get(hour, 0) + 1

    def run(self, query, **kw):
        if query is q.event_hour_rows:
            return [(h, n) for h, n in self.inserted.items() if h >= kw["since"]]
        if query is q.event_hour_counts:
            self.counted.append((kw["since"], kw["until"]))
            groups: dict[tuple, set] = {}
            for t, i, d, c, ty, _ in self.events:
                if kw["since"] <= t < kw["until"]:
                    groups.setdefault((t - t % HOUR, d, c, ty == REPORT), set()).add(i)
            return [(*key, len(ids)) for key, ids in groups.items()]
        if query is q.events_between:
            groups = {}
            for t, i, d, *_ in self.events:
                if kw["since"] <= t < kw["until"]:
                    groups.setdefault(d, set()).add(i)
            return [(d, len(ids)) for d, ids in groups.items()]
        if query is q.event_minute_counts:
            self.minutes_read.append((kw["since"], kw["until"]))
            groups = {}
            for t, i, d, _, ty, ch in self.events:
                if kw["since"] <= t < kw["until"] and ty == REPORT:
                    groups.setdefault((t - t % 60, d, ch), set()).add(i)
            return [(*key, len(ids)) for key, ids in groups.items()]
        raise AssertionError(query)

    def events_per_minute(self, now, scope=None) -> list[tuple]:
        """The reference: cityops.storage.queries.events_per_minute over the fake's events."""
        groups: dict[tuple, set] = {}
        for t, i, d, _, ty, ch in self.events:
            if t >= now - HOUR and ty == REPORT and (not scope or d == scope):
                groups.setdefault((t - t % 60, ch), set()).add(i)
        return [(m, c or "other", len(ids)) for (m, c), ids in sorted(groups.items())]


def test_only_hours_with_new_rows_are_recounted():
    assert stale_hours({10: 3, 11: 4}, {10: 3, 11: 5, 12: 1}) == [11, 12]


def test_events_today_sum_hours_and_count_redeliveries_once():
    store = FakeStorage()
    store.add(MIDNIGHT + 10, "a")
    store.add(MIDNIGHT + 10, "a")  # redelivered: same time, same hour
    store.add(MIDNIGHT + 2 * HOUR, "b", district="320102")
    store.add(MIDNIGHT - DAY + 60, "y1")
    store.add(MIDNIGHT - DAY + 2 * HOUR + 100, "y2")  # yesterday, in the hour of now - 24 h
    store.add(MIDNIGHT - DAY + 2 * HOUR + 900, "y3")  # yesterday, after now - 24 h
    cache = EventHours(store.run, min_interval=0)
    now = MIDNIGHT + 2 * HOUR + 600
    cache.refresh(today_start=MIDNIGHT, now=now)
    assert cache.event_counts(today_start=MIDNIGHT, now=now) == {"today": 2, "yesterday": 2}
    assert cache.event_counts(today_start=MIDNIGHT, now=now, scope="320102")["today"] == 1
    assert cache.top_categories(since=MIDNIGHT) == [("road", 2)]


def test_a_late_row_in_a_closed_hour_is_counted_and_quiet_hours_are_not_read_again():
    store = FakeStorage()
    store.add(MIDNIGHT + 10, "a", category="water")
    store.add(MIDNIGHT + HOUR + 10, "b")
    cache = EventHours(store.run, min_interval=0)
    now = MIDNIGHT + HOUR + 600
    cache.refresh(today_start=MIDNIGHT, now=now)
    store.counted.clear()
    cache.refresh(today_start=MIDNIGHT, now=now)
    assert store.counted == []  # nothing arrived: nothing read
    store.add(MIDNIGHT + 20, "late", category="water")
    cache.refresh(today_start=MIDNIGHT, now=now)
    assert store.counted == [(MIDNIGHT, MIDNIGHT + HOUR)]
    assert cache.event_counts(today_start=MIDNIGHT, now=now)["today"] == 3
    assert cache.top_categories(since=MIDNIGHT, limit=1) == [("water", 2)]


def test_events_per_minute_come_from_the_cache_and_equal_the_sql_answer():
    store = FakeStorage()
    now = MIDNIGHT + 2 * HOUR + 1234  # the last hour starts inside a minute
    store.add(now - HOUR - 30, "old")  # in the minute holding now - 1 h, but before it
    store.add(now - HOUR + 5, "head", channel="app")  # in that minute, after now - 1 h
    store.add(now - HOUR + 5, "head", channel="app")  # redelivered
    store.add(now - 600, "a", district="320102")
    store.add(now - 600, "b", channel="")  # no channel: shown as "other"
    store.add(now - 590, "act", type="city.incident.progress.v1")  # not a report
    store.add(now - 5, "c", channel="sensor")
    cache = EventHours(store.run, min_interval=0)
    cache.refresh(today_start=MIDNIGHT, now=now)
    assert cache.events_per_minute(now=now) == store.events_per_minute(now)
    assert cache.events_per_minute(now=now, scope="320102") == store.events_per_minute(
        now, scope="320102"
    )
    # nothing new: the next refresh reads no minutes of whole hours again
    store.minutes_read.clear()
    cache.refresh(today_start=MIDNIGHT, now=now + 1)
    assert cache.events_per_minute(now=now + 1) == store.events_per_minute(now + 1)
    assert all(until - since < 60 for since, until in store.minutes_read)
    # a new report in the current hour: that hour's minutes are recounted
    store.add(now + 20, "d", channel="video")
    cache.refresh(today_start=MIDNIGHT, now=now + 30)
    assert cache.events_per_minute(now=now + 30) == store.events_per_minute(now + 30)


def test_events_per_minute_on_a_minute_boundary_read_no_head():
    store = FakeStorage()
    now = MIDNIGHT + 2 * HOUR + 120
    store.add(now - HOUR, "first")  # exactly at now - 1 h: counted
    store.add(now - HOUR - 1, "before")
    cache = EventHours(store.run, min_interval=0)
    cache.refresh(today_start=MIDNIGHT, now=now)
    store.minutes_read.clear()
    assert (
        cache.events_per_minute(now=now)
        == store.events_per_minute(now)
        == [(now - HOUR, "hotline", 1)]
    )
    assert store.minutes_read == []
