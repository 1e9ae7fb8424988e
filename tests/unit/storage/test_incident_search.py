"""Drill-down search from the latest-state cache: the same totals and order as the SQL search
would give, over a state built from narrow rows (no ClickHouse)."""

from __future__ import annotations

from storage.incident_search import ReportedIndex, search_state
from storage.queries import IncidentFilter
from storage.snapshot import LatestState
from tests.unit.storage.test_snapshot import NOW, a_row


def a_state(*rows) -> LatestState:
    state = LatestState()
    state.load(sorted(rows))
    return state


def slots_reported(state, slots):
    return [state.reported[s] for s in slots]


def test_newest_first_with_total_and_paging():
    state = a_state(*(a_row(h, reported_at=NOW - h * 60) for h in range(1, 11)))
    order = ReportedIndex().update(state)
    flt = IncidentFilter(since=NOW - 5 * 60 - 1, until=NOW + 1)
    total, page = search_state(state, order, flt, offset=1, limit=2)
    assert total == 5
    assert slots_reported(state, page) == [NOW - 120, NOW - 180]


def test_status_district_and_severity_filter_the_latest_state():
    state = a_state(
        a_row(1, status="closed", reported_at=NOW - 60),
        a_row(2, district="320102", reported_at=NOW - 120),
        a_row(3, severity=4, reported_at=NOW - 180),
        a_row(4, reported_at=NOW - 240),
    )
    order = ReportedIndex().update(state)
    week = IncidentFilter(since=NOW - 7 * 86400, until=NOW + 1, statuses=("dispatched",))
    assert search_state(state, order, week)[0] == 3
    local = IncidentFilter(since=NOW - 7 * 86400, until=NOW + 1, district="320105")
    assert search_state(state, order, local, scope="320105")[0] == 3
    assert search_state(state, order, local, scope="320102") == (0, [])
    severe = IncidentFilter(since=NOW - 7 * 86400, until=NOW + 1, min_severity=4)
    assert slots_reported(state, search_state(state, order, severe)[1]) == [NOW - 180]


def test_incidents_opened_after_the_load_are_found_and_text_needs_sql():
    state = a_state(a_row(1, reported_at=NOW - 600))
    index = ReportedIndex()
    index.update(state)
    state.apply(a_row(2, reported_at=NOW - 5))
    flt = IncidentFilter(since=NOW - 3600, until=NOW + 1)
    total, page = search_state(state, index.update(state), flt)
    assert total == 2 and slots_reported(state, page) == [NOW - 5, NOW - 600]
    text = IncidentFilter(since=NOW - 3600, until=NOW + 1, text="road")
    assert search_state(state, index.update(state), text) is None
