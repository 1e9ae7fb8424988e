"""The latest-state cache against a real ClickHouse: the same counters and wall lists as the SQL
queries, deltas picked up through incident_changes (also late rows within the margin), and the
officer's district scope."""

from __future__ import annotations

import time

from cityops.dashboard.cache.snapshot import IncidentSnapshot
from cityops.storage import wall_queries as wq
from tests.e2e.builders import an_incident, insert


def a_cache(isolated) -> IncidentSnapshot:
    def run(query, *args, **kwargs):
        return query(isolated.ch, isolated.database, *args, **kwargs)

    return IncidentSnapshot(run, min_interval=0, yesterday_seconds=0, reload_seconds=0)


def a_small_city(ch, now: int) -> None:
    insert(ch, "incidents", [
        an_incident(incident_id="320105001-a", reported_at=now - 3000, severity=4, joint=1),
        an_incident(incident_id="320105001-a", reported_at=now - 3000, severity=4, joint=1,
                    version=2, breaches=1, updated_at=now - 200),
        an_incident(incident_id="320106001-b", reported_at=now - 2 * 86400, district="320106",
                    street="320106001", severity=3, updated_at=now - 2 * 86400),
        an_incident(incident_id="320106001-b", reported_at=now - 2 * 86400, district="320106",
                    street="320106001", severity=3, status="closed", version=2,
                    updated_at=now - 100),
        an_incident(incident_id="320106001-c", reported_at=now - 30 * 3600, district="320106",
                    street="320106001", escalations=1, updated_at=now - 30 * 3600),
    ])  # fmt: skip


def same_as_sql(isolated, cache: IncidentSnapshot, now: int, scope=None) -> None:
    cache.update_yesterday(now)  # the background thread's job, every minute
    view = cache.refresh(now)
    expected = wq.incident_counters(isolated.ch, isolated.database, now=now, scope=scope)
    assert view.counters(scope).by_district == expected.by_district
    sql_severe = wq.severe_open(isolated.ch, isolated.database, limit=200, scope=scope)
    assert view.severe_open(limit=200, scope=scope) == sql_severe
    sql_joint = wq.joint_open(isolated.ch, isolated.database, limit=6, scope=scope)
    assert view.joint_open(limit=6, scope=scope) == sql_joint


def test_the_cache_shows_what_the_sql_counters_show(isolated):
    now = int(time.time())
    a_small_city(isolated.ch, now)
    cache = a_cache(isolated)
    same_as_sql(isolated, cache, now)
    same_as_sql(isolated, cache, now, scope="320106")


def test_new_versions_and_late_rows_reach_the_cache(isolated):
    now = int(time.time())
    a_small_city(isolated.ch, now)
    cache = a_cache(isolated)
    assert cache.refresh(now).counters().total["open"] == 2
    insert(isolated.ch, "incidents", [
        # closes incident a
        an_incident(incident_id="320105001-a", reported_at=now - 3000, severity=4, joint=1,
                    version=3, status="closed", updated_at=now - 5),
        # a new incident whose row arrives late (updated 20 s before the newest seen)
        an_incident(incident_id="320105002-d", reported_at=now - 120, street="320105002",
                    severity=4, updated_at=now - 120),
        # an old version of b, redelivered: changes nothing
        an_incident(incident_id="320106001-b", reported_at=now - 2 * 86400, district="320106",
                    street="320106001", severity=3, updated_at=now - 90),
    ])  # fmt: skip
    view = cache.refresh(now + 1)
    assert view.counters().total["open"] == 2  # c and d
    assert [w["incident_id"] for w in view.severe_open()] == ["320105002-d"]
    same_as_sql(isolated, cache, now + 2)
    same_as_sql(isolated, cache, now + 3, scope="320105")
