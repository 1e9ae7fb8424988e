"""Drill-down search from the latest-state cache: the same totals and order as the SQL search
would give, over a state built from narrow rows (no ClickHouse)."""

from __future__ import annotations

from storage.incident_search import ReportedIndex, match_candidates, search_state
from storage.queries import IncidentFilter
from storage.snapshot import LatestState
from tests.unit.storage.test_snapshot import NOW, a_row

WEEK = IncidentFilter(since=NOW - 7 * 86400, until=NOW + 1)


def a_state(*rows) -> LatestState:
    state = LatestState()
    state.load(sorted(rows))
    return state


def slots_reported(state, slots):
    return [state.reported[s] for s in slots]


def brute_force(state, flt: IncidentFilter, descending=True):
    """The reference: every slot checked one by one, sorted by (reported_at, slot)."""
    slots = []
    for slot in range(len(state)):
        code = state.code[slot]
        status = state._status.values[code & 0xFFFF]
        district = state._district.values[(code >> 32) & 0xFFFF]
        if not flt.since <= state.reported[slot] < flt.until:
            continue
        if flt.district and district != flt.district:
            continue
        if flt.statuses and status not in flt.statuses:
            continue
        if flt.min_severity and code >> 56 < flt.min_severity:
            continue
        slots.append(slot)
    slots.sort(key=lambda s: (state.reported[s], s), reverse=descending)
    return slots


def test_newest_first_with_total_and_paging():
    state = a_state(*(a_row(h, reported_at=NOW - h * 60) for h in range(1, 11)))
    index = ReportedIndex().update(state)
    flt = IncidentFilter(since=NOW - 5 * 60 - 1, until=NOW + 1)
    total, page, *_ = search_state(state, index, flt, offset=1, limit=2)
    assert total == 5
    assert slots_reported(state, page) == [NOW - 120, NOW - 180]


def test_status_district_and_severity_filter_the_latest_state():
    state = a_state(
        a_row(1, status="closed", reported_at=NOW - 60),
        a_row(2, district="320102", reported_at=NOW - 120),
        a_row(3, severity=4, reported_at=NOW - 180),
        a_row(4, reported_at=NOW - 240),
    )
    index = ReportedIndex().update(state)
    week = IncidentFilter(since=NOW - 7 * 86400, until=NOW + 1, statuses=("dispatched",))
    assert search_state(state, index, week).total == 3
    local = IncidentFilter(since=NOW - 7 * 86400, until=NOW + 1, district="320105")
    assert search_state(state, index, local, scope="320105").total == 3
    assert search_state(state, index, local, scope="320102").total == 0
    severe = IncidentFilter(since=NOW - 7 * 86400, until=NOW + 1, min_severity=4)
    assert slots_reported(state, search_state(state, index, severe).page) == [NOW - 180]


def test_incidents_opened_after_the_load_are_found_and_text_needs_candidates():
    state = a_state(a_row(1, reported_at=NOW - 600))
    index = ReportedIndex()
    index.update(state)
    state.apply(a_row(2, reported_at=NOW - 5))
    flt = IncidentFilter(since=NOW - 3600, until=NOW + 1)
    total, page, *_ = search_state(state, index.update(state), flt)
    assert total == 2 and slots_reported(state, page) == [NOW - 5, NOW - 600]
    text = IncidentFilter(since=NOW - 3600, until=NOW + 1, text="road")
    assert search_state(state, index.update(state), text) is None


def test_the_status_index_follows_incidents_that_change_status():
    rows = [
        a_row(h, status=("dispatched", "closed")[h % 2], district=("320105", "320102")[h % 3 == 0],
              severity=1 + h % 4, reported_at=NOW - h * 97 % 5000)
        for h in range(1, 60)
    ]  # fmt: skip
    state = a_state(*rows)
    index = ReportedIndex()
    index.update(state)
    for h in range(1, 60, 4):  # some close, some reopen, one changes severity
        state.apply(a_row(h, 2, status="closed" if h % 8 == 1 else "in_progress",
                          district=("320105", "320102")[h % 3 == 0], severity=4,
                          reported_at=NOW - h * 97 % 5000))  # fmt: skip
    state.apply(a_row(500, status="in_progress", reported_at=NOW - 10))  # a new one
    index.update(state)
    for flt in (
        WEEK,
        IncidentFilter(WEEK.since, WEEK.until, statuses=("in_progress",)),
        IncidentFilter(WEEK.since, WEEK.until, statuses=("closed", "dispatched"), min_severity=3),
        IncidentFilter(WEEK.since, WEEK.until, district="320102", statuses=("in_progress",)),
        IncidentFilter(NOW - 2000, NOW - 100, min_severity=2),
    ):
        for descending in (True, False):
            expected = brute_force(state, flt, descending)
            for offset in (0, 3, 10):
                found = search_state(state, index, flt, descending=descending, offset=offset,
                                     limit=5)  # fmt: skip
                assert found.total == len(expected)
                assert found.page == expected[offset : offset + 5]


def test_ties_in_report_time_hand_the_page_rows_their_whole_tie_group():
    state = a_state(*(a_row(h, reported_at=NOW - (h // 3) * 60) for h in range(1, 10)))
    index = ReportedIndex().update(state)
    flt = IncidentFilter(since=NOW - 3600, until=NOW + 1)
    found = search_state(state, index, flt, offset=2, limit=2)
    # reported: slots 0,1 at NOW; 2,3,4 at NOW-60; 5,6,7 at NOW-120; 8 at NOW-180
    assert found.page == [4, 3]
    assert sorted(found.window) == [2, 3, 4] and found.skip == 0


def test_a_title_matches_only_when_the_latest_version_matches():
    state = a_state(
        a_row(1, 2, reported_at=NOW - 60),
        a_row(2, 3, reported_at=NOW - 120, status="closed"),
        a_row(3, 1, reported_at=NOW - 180),
    )
    # (hash, newest version whose title matches): 1 matched only in version 1 (renamed since)
    found = [(1, 1), (2, 3), (3, 1), (99, 1)]  # 99: not in the cache yet
    text = IncidentFilter(since=NOW - 3600, until=NOW + 1, text="井盖")
    assert slots_reported(state, match_candidates(state, found, text).page) == [
        NOW - 120,
        NOW - 180,
    ]
    closed = IncidentFilter(NOW - 3600, NOW + 1, statuses=("closed",), text="井盖")
    assert match_candidates(state, found, closed).total == 1
    street = IncidentFilter(since=NOW - 3600, until=NOW + 1, street="320105001")
    assert match_candidates(state, found, street, descending=False).total == 3
