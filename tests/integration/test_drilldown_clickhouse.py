"""The wall's and drill-down's rewritten reads against the real ClickHouse 18.16: each equals
its reference SQL answer — the cached search (filters, titles, ties in report time, every sort)
equals search_incidents, incident_events by its lookup table equals the scan, the cached events per
minute equal the SQL, and the tickers equal their LIMIT 1 BY form."""

from __future__ import annotations

import time

from cityops.dashboard.cache.event_hours import EventHours
from cityops.dashboard.cache.incident_search import search_cached
from cityops.dashboard.cache.snapshot import IncidentSnapshot
from cityops.dashboard.pages.wall import _local_midnight
from cityops.storage import event_queries as eq
from cityops.storage import incident_pages as ip
from cityops.storage import search_queries as sq
from tests.e2e.builders import an_event, an_incident, insert
from tests.waiting import wait_until


def a_runner(isolated):
    def run(query, *args, **kwargs):
        return query(isolated.ch, isolated.database, *args, **kwargs)

    return run


def a_loaded_cache(isolated, now: int) -> IncidentSnapshot:
    cache = IncidentSnapshot(
        a_runner(isolated), min_interval=0, yesterday_seconds=0, reload_seconds=0
    )
    cache.refresh(now)
    return cache


STREETS = ("320105001", "320105002", "320102001", "320106001")
STATUSES = ("dispatched", "in_progress", "resolved", "closed")
TITLES = ("井盖缺失", "路灯不亮", "道路积水 Waterlogging", "噪音扰民")
# "water_supply" < "waterlogging" in bytes ("_" < "l")
CATEGORIES = ("road_damage", "waterlogging", "water_supply")


def a_deadline(now: int, n: int) -> int:
    """Four deadlines shared by many incidents, and by the three reported in the same second;
    every seventh incident has none (0)."""
    return 0 if n % 7 == 0 else now + (n // 3 % 4) * 3600


def a_busy_city(ch, now: int) -> None:
    """60 incidents over 10 days, several reported in the same second, in few categories and
    deadlines, some in two versions whose second changes status and severity (and once the
    title; some get a new deadline, one loses its deadline). The category stays: the engine
    sets it at opening, and the SQL search filters on it before taking the latest state."""
    rows = []
    for n in range(60):
        street = STREETS[n % 4]
        common = dict(
            incident_id=f"{street}-{n:04x}",
            reported_at=now - (n // 3) * 4 * 3600,  # three incidents per second
            district=street[:6],
            street=street,
            category=CATEGORIES[n // 2 % 3],
            title=TITLES[n % 4],
        )
        due = a_deadline(now, n)
        later_due = 0 if n == 16 else due + (n % 8 == 0) * 1800
        rows.append(
            an_incident(**common, resolve_due=due, severity=1 + n % 3, updated_at=now - 86400 * 11)
        )
        if n % 2 == 0:
            renamed = "标题已改" if n == 10 else common["title"]
            rows.append(
                an_incident(**{**common, "title": renamed}, version=2, status=STATUSES[n % 4],
                            severity=1 + n % 4, resolve_due=later_due,
                            updated_at=now - 600)
            )  # fmt: skip
    insert(ch, "incidents", rows)


def a_busy_cache(isolated):
    """(now, a loaded latest-state cache of the busy city, a 12-day filter)."""
    now = int(time.time())
    a_busy_city(isolated.ch, now)
    cache = a_loaded_cache(isolated, now)
    return now, cache, sq.IncidentFilter(since=now - 12 * 86400, until=now + 60)


def both_answers(isolated, cache, now, flt, **how):
    """(the cached search's answer, the SQL search's) for one filter and page."""
    expected = sq.search_incidents(isolated.ch, isolated.database, flt, **how)
    return search_cached(cache, a_runner(isolated), flt, now=now, **how), expected


def test_the_cached_search_answers_as_the_sql_search(isolated):
    now, cache, days = a_busy_cache(isolated)
    filters = [
        days,
        sq.IncidentFilter(now - 3 * 86400, now + 60),
        sq.IncidentFilter(days.since, days.until, statuses=("in_progress", "closed")),
        sq.IncidentFilter(days.since, days.until, district="320105", statuses=("dispatched",)),
        sq.IncidentFilter(days.since, days.until, min_severity=3),
        sq.IncidentFilter(days.since, days.until, street="320102001"),
        sq.IncidentFilter(days.since, days.until, category="waterlogging", min_severity=2),
        sq.IncidentFilter(days.since, days.until, text="井盖"),  # incident 10 renamed since
        sq.IncidentFilter(days.since, days.until, text="waterLOGGING", statuses=("closed",)),
        sq.IncidentFilter(days.since, days.until, text="无此标题"),
        sq.IncidentFilter(days.since, days.until, statuses=("no-such-status",)),
    ]
    for flt in filters:
        for descending in (True, False):
            for offset in (0, 4, 7):
                how = dict(descending=descending, offset=offset, limit=5)
                found, expected = both_answers(isolated, cache, now, flt, **how)
                assert found == expected, (flt, how)
    for scope in ("320105", "320106"):
        expected = sq.search_incidents(isolated.ch, isolated.database, days, scope=scope)
        assert search_cached(cache, a_runner(isolated), days, now=now, scope=scope) == expected


def test_the_cached_search_sorts_by_every_column_as_the_sql(isolated):
    """Sorted by a state column (severity, status, district, category, resolve_due) both ways,
    with many ties in it and in report time (three incidents per second), incidents without a
    deadline, and on pages that cross from one value of the column to the next."""
    now, cache, days = a_busy_cache(isolated)
    filters = [
        days,
        sq.IncidentFilter(now - 3 * 86400, now + 60),
        sq.IncidentFilter(days.since, days.until, statuses=("in_progress", "dispatched")),
        sq.IncidentFilter(days.since, days.until, district="320105", min_severity=2),
        sq.IncidentFilter(days.since, days.until, street="320102001"),
        sq.IncidentFilter(days.since, days.until, text="waterLOGGING"),
    ]
    for sort in ("severity", "status", "district", "category", "resolve_due"):
        for flt in filters:
            for descending in (True, False):
                for offset in (0, 4, 13, 29):
                    how = dict(sort=sort, descending=descending, offset=offset, limit=5)
                    found, expected = both_answers(isolated, cache, now, flt, **how)
                    assert found == expected, (sort, flt, how)
    for sort, scope in (("severity", "320105"), ("category", "320106"), ("resolve_due", "320105")):
        how = dict(sort=sort, descending=False, offset=3, limit=7, scope=scope)
        expected = sq.search_incidents(isolated.ch, isolated.database, days, **how)
        assert search_cached(cache, a_runner(isolated), days, now=now, **how) == expected


def test_no_deadline_sorts_first_ascending_and_last_descending(isolated):
    """resolve_due is a DateTime, not Nullable: no deadline is stored as 0 and sorts as 0."""
    now, cache, days = a_busy_cache(isolated)
    for descending, at in ((False, 0), (True, -1)):
        how = dict(sort="resolve_due", descending=descending, limit=200)
        _, rows = sq.search_incidents(isolated.ch, isolated.database, days, **how)
        assert rows[at]["resolve_due"] == 0
        assert search_cached(cache, a_runner(isolated), days, now=now, **how) == (len(rows), rows)


def test_the_cached_sorts_follow_new_categories_and_deadlines(isolated):
    now, cache, days = a_busy_cache(isolated)
    search_cached(cache, a_runner(isolated), days, now=now, sort="resolve_due")  # index built
    moved = [
        an_incident(incident_id=f"{STREETS[n % 4]}-{n:04x}", reported_at=now - (n // 3) * 4 * 3600,
                    district=STREETS[n % 4][:6], street=STREETS[n % 4], title=TITLES[n % 4],
                    category="noise" if n % 2 else CATEGORIES[n % 3],
                    resolve_due=now + 3600 if n % 3 else 0, version=3, updated_at=now)
        for n in range(0, 60, 5)
    ]  # fmt: skip
    moved.append(
        an_incident(
            incident_id="320105001-ffff",
            reported_at=now - 5,
            category="water_supply",
            resolve_due=now + 3600,
            updated_at=now,
        )
    )
    insert(isolated.ch, "incidents", moved)
    cache.refresh(now + 1)
    for sort in ("category", "resolve_due"):
        for descending in (True, False):
            for offset in (0, 11, 26):
                how = dict(sort=sort, descending=descending, offset=offset, limit=6)
                found, expected = both_answers(isolated, cache, now + 1, days, **how)
                assert found == expected, (sort, how)


def test_the_cached_search_follows_new_versions(isolated):
    now = int(time.time())
    a_busy_city(isolated.ch, now)
    cache = a_loaded_cache(isolated, now)
    days = sq.IncidentFilter(since=now - 12 * 86400, until=now + 60, statuses=("closed",))
    search_cached(cache, a_runner(isolated), days, now=now)  # the index is built
    insert(isolated.ch, "incidents", [
        an_incident(incident_id="320105001-0000", reported_at=now, status="closed", version=3,
                    severity=4, title=TITLES[0], updated_at=now),
        an_incident(incident_id="320105001-ffff", reported_at=now - 5, status="closed",
                    updated_at=now),
    ])  # fmt: skip
    cache.refresh(now + 1)
    expected = sq.search_incidents(isolated.ch, isolated.database, days)
    assert search_cached(cache, a_runner(isolated), days, now=now + 1) == expected
    assert expected[1][0]["incident_id"] == "320105001-0000"


def test_incident_events_by_lookup_equal_the_scan(isolated):
    now = int(time.time())

    def at(n: int) -> int:  # pairs ten minutes apart, pairs eight hours apart
        return now - 3 * 86400 + (n // 2) * 30000 + (n % 2) * 600

    events = [an_event(id=f"e{n}", time=at(n), incident_id="320105001-a") for n in range(12)]
    events.append(an_event(id="e3", time=at(3), incident_id="320105001-a"))  # redelivered
    events.append(an_event(id="other", time=now - 86400, incident_id="320105001-b"))
    events.append(an_event(id="none", time=now - 86400))
    insert(isolated.ch, "events", events)
    for since, limit in ((now - 4 * 86400, 200), (now - 2 * 86400, 200), (now - 4 * 86400, 5)):
        expected = ip.incident_events_scan(
            isolated.ch, isolated.database, "320105001-a", since=since, limit=limit
        )
        found = ip.incident_events(
            isolated.ch, isolated.database, "320105001-a", since=since, limit=limit
        )
        assert found == expected and found
    assert ip.incident_events(isolated.ch, isolated.database, "nothing", since=0) == []


def test_cached_events_per_minute_equal_the_sql(isolated):
    now = int(time.time())
    channels = ("hotline", "app", "", "sensor")
    insert(isolated.ch, "events", [
        an_event(id=f"r{n}", time=now - 3700 + n * 97, channel=channels[n % 4],
                 district=("320105", "320102")[n % 2],
                 type=("city.report.v1", "city.incident.progress.v1")[n % 5 == 0])
        for n in range(40)
    ])  # fmt: skip
    insert(isolated.ch, "events", [an_event(id="r7", time=now - 3700 + 7 * 97)])  # redelivered
    hours = EventHours(a_runner(isolated), min_interval=0)
    midnight = int(_local_midnight(now))
    for t in (now, now + 13, now + 60):
        hours.refresh(today_start=midnight, now=t)
        for scope in (None, "320102"):
            expected = eq.events_per_minute(isolated.ch, isolated.database, now=t, scope=scope)
            assert hours.events_per_minute(now=t, scope=scope) == expected and expected


def test_tickers_equal_their_limit_1_by_form(isolated):
    now = int(time.time())
    rows = [an_event(id=f"t{n:02d}", time=now - n * 7) for n in range(30)]
    rows += [an_event(id="t00", time=now)] * 60  # many redeliveries of the newest event
    insert(isolated.ch, "events", rows)
    feed = eq.latest_events(isolated.ch, isolated.database, since=now - 3600, now=now)
    assert [e["id"] for e in feed] == [f"t{n:02d}" for n in range(12)]
    scoped = eq.latest_events(
        isolated.ch, isolated.database, since=now - 3600, now=now, scope="320102", limit=3
    )
    assert scoped == []


def test_a_search_without_a_wall_answers_from_sql_and_loads_the_cache(isolated):
    now = int(time.time())
    a_busy_city(isolated.ch, now)
    cache = IncidentSnapshot(
        a_runner_of_its_own(isolated), min_interval=0, yesterday_seconds=0, reload_seconds=0
    )
    days = sq.IncidentFilter(since=now - 12 * 86400, until=now + 60, min_severity=2)
    assert search_cached(cache, a_runner(isolated), days, now=now) is None  # SQL's turn
    wait_until(lambda: cache.view() is not None, 20, "the cache loaded in the background")
    expected = sq.search_incidents(isolated.ch, isolated.database, days)
    assert search_cached(cache, a_runner(isolated), days, now=now) == expected


def a_runner_of_its_own(isolated):
    """A runner with its own connection, for a background thread (clients are not shared)."""
    from cityops.storage.client import connect

    client = connect(isolated.settings.clickhouse)

    def run(query, *args, **kwargs):
        return query(client, isolated.database, *args, **kwargs)

    return run
