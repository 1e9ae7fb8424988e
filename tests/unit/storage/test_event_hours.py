"""The per-hour event cache: hours are recounted only when event_hours says they got rows, and
sums over hours answer "events today", "same time yesterday" and the top categories. Storage is
a fake `run` that serves the three queries from a list of (time, id, district, category, type)."""

from __future__ import annotations

from storage import queries as q
from storage.event_hours import DAY, HOUR, EventHours, stale_hours

MIDNIGHT = 1_800_000_000 - 1_800_000_000 % HOUR
REPORT = "city.report.v1"


class FakeStorage:
    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.inserted: dict[int, int] = {}
        self.counted: list[tuple[int, int]] = []

    def add(self, time, id, district="320105", category="road", type=REPORT) -> None:
        self.events.append((time, id, district, category, type))
        hour = time - time % HOUR
        self.inserted[hour] = self.inserted.get(hour, 0) + 1

    def run(self, query, **kw):
        if query is q.event_hour_rows:
            return [(h, n) for h, n in self.inserted.items() if h >= kw["since"]]
        if query is q.event_hour_counts:
            self.counted.append((kw["since"], kw["until"]))
            groups: dict[tuple, set] = {}
            for t, i, d, c, ty in self.events:
                if kw["since"] <= t < kw["until"]:
                    groups.setdefault((t - t % HOUR, d, c, ty == REPORT), set()).add(i)
            return [(*key, len(ids)) for key, ids in groups.items()]
        if query is q.events_between:
            groups = {}
            for t, i, d, _, _ in self.events:
                if kw["since"] <= t < kw["until"]:
                    groups.setdefault(d, set()).add(i)
            return [(d, len(ids)) for d, ids in groups.items()]
        raise AssertionError(query)


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
