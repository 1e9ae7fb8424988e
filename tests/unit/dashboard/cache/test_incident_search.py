"""Drill-down search from the latest-state cache: the same totals and order as the SQL search
would give, over a state built from narrow rows (no ClickHouse)."""

from __future__ import annotations

import pytest

from cityops.dashboard.cache.incident_search import match_candidates, search_state
from cityops.dashboard.cache.latest_state import DAY, LatestState
from cityops.dashboard.cache.search_index import ReportedIndex
from cityops.storage.search_queries import IncidentFilter
from tests.unit.dashboard.cache.test_snapshot import NOW, a_row

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
        status = state.statuses.values[code & 0xFFFF]
        district = state.districts.values[(code >> 32) & 0xFFFF]
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


def sort_value(state, slot, sort):
    code = state.code[slot]
    if sort == "severity":
        return code >> 56
    if sort == "status":
        return state.statuses.values[code & 0xFFFF]
    if sort == "category":  # ClickHouse compares the bytes of a String
        return state.category_of(slot).encode()
    if sort == "resolve_due":
        return state.resolve_due[slot]
    return state.districts.values[(code >> 32) & 0xFFFF]


def sql_order(state, slots, sort, descending, incident_id):
    """The SQL search's order of a sort by a state column: the column, then report time newest
    first, then incident id."""
    ordered = sorted(slots, key=lambda s: (-state.reported[s], incident_id(s)))
    return sorted(ordered, key=lambda s: sort_value(state, s, sort), reverse=descending)


def rows_of_page(state, found, sort, descending, incident_id, limit):
    """What page_rows makes of a Found: the window in the SQL's order, from `skip`."""
    ordered = sql_order(state, found.window, sort, descending, incident_id)
    return ordered[found.skip : found.skip + limit]


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


def an_indexed_city(rows, later):
    """(state, index) of `rows`, indexed, then `later` rows applied: the index follows them."""
    state = a_state(*rows)
    index = ReportedIndex()
    index.update(state)
    for row in later:
        state.apply(row)
    return state, index.update(state)


def a_city_of_ties():
    """Severity, status and district tie often, and report times tie within them."""
    district = ("320105", "320102", "320106")
    return an_indexed_city(
        [
            a_row(h, status=("dispatched", "closed", "in_progress")[h % 3],
                  district=district[h % 4 % 3], severity=1 + h % 4,
                  reported_at=NOW - (h // 5) * 60)
            for h in range(1, 90)
        ],
        [  # some change status and severity, and a new one
            *(a_row(h, 2, status="resolved", district=district[h % 4 % 3], severity=4 - h % 4,
                    reported_at=NOW - (h // 5) * 60) for h in range(1, 90, 7)),
            a_row(500, status="closed", severity=1, reported_at=NOW),
        ],
    )  # fmt: skip


# "water_supply" < "waterlogging" in bytes ("_" < "l"); "" is the smallest
CATEGORIES = ("waterlogging", "water_supply", "road_damage", "", "noise")


def a_city_of_deadlines():
    """Five days of incidents, three per second: categories and deadlines tie often, also
    within a second (some have no deadline: 0), and some change category or deadline after
    the index is built."""

    def due(h):
        return 0 if h % 11 == 0 else NOW + (h // 2 % 6) * 3600

    def district(h):
        return ("320105", "320102")[h % 3 == 0]

    return an_indexed_city(
        [
            a_row(h, status=("dispatched", "closed")[h % 2], district=district(h),
                  severity=1 + h % 4, category=CATEGORIES[h // 2 % 5], resolve_due=due(h),
                  reported_at=NOW - (h // 3) * 4000)
            for h in range(1, 120)
        ],
        [  # reclassified, a new deadline (one with none any more), and a new one
            *(a_row(h, 2, status="in_progress", district=district(h), severity=1 + h % 4,
                    category=CATEGORIES[(h + 2) % 5], resolve_due=0 if h == 33 else due(h) + 7200,
                    reported_at=NOW - (h // 3) * 4000) for h in range(1, 120, 8)),
            a_row(500, category="noise", resolve_due=NOW + 3600, reported_at=NOW),
        ],
    )  # fmt: skip


DEADLINE_FILTERS = (
    WEEK,
    IncidentFilter(WEEK.since, WEEK.until, statuses=("closed", "in_progress")),
    IncidentFilter(WEEK.since, WEEK.until, district="320102", min_severity=2),
    IncidentFilter(NOW - 2 * DAY - 500, NOW - 3600),  # cuts two report days
)
# (a city, the sorts it is built to test, filters)
CITIES = [
    (a_city_of_ties, ("severity", "status", "district"), (
        WEEK,
        IncidentFilter(WEEK.since, WEEK.until, statuses=("closed", "resolved")),
        IncidentFilter(WEEK.since, WEEK.until, district="320102", min_severity=2),
        IncidentFilter(NOW - 900, NOW - 120),
    )),
    (a_city_of_deadlines, ("category", "resolve_due"), DEADLINE_FILTERS),
]  # fmt: skip


def incident_id(slot: int) -> str:
    """Incident ids ordered unlike slots, so the window's tie-break is what decides."""
    return f"i{(slot * 37) % 127:03d}"


@pytest.mark.parametrize("city, sorts, filters", CITIES)
def test_sorts_by_a_state_column_page_as_the_sql(city, sorts, filters):
    state, index = city()
    for sort in sorts:
        for flt in filters:
            for descending in (True, False):
                expected = sql_order(state, brute_force(state, flt), sort, descending, incident_id)
                for offset in (0, 3, 10, 17, 40, 80, 200):
                    how = dict(sort=sort, descending=descending, offset=offset, limit=7)
                    found = search_state(state, index, flt, **how)
                    assert found.total == len(expected), (sort, flt, how)
                    assert len(found.page) == len(expected[offset : offset + 7])
                    rows = rows_of_page(state, found, sort, descending, incident_id, 7)
                    assert rows == expected[offset : offset + 7], (sort, flt, how)


@pytest.mark.parametrize("city, sorts, _", CITIES)
def test_candidates_sort_by_a_state_column_too(city, sorts, _):
    state, _ = city()
    slots = list(range(0, len(state), 3))
    found = [(state.keys[s], state.version[s]) for s in slots]
    street = IncidentFilter(WEEK.since, WEEK.until, street="320105001")
    for sort in sorts:
        for descending in (True, False):
            expected = sql_order(state, slots, sort, descending, incident_id)
            for offset in (0, 5, 30):
                how = dict(sort=sort, descending=descending, offset=offset, limit=6)
                answer = match_candidates(state, found, street, **how)
                assert answer.total == len(expected)
                rows = rows_of_page(state, answer, sort, descending, incident_id, 6)
                assert rows == expected[offset : offset + 6], (sort, how)


def test_a_sort_the_search_does_not_know_goes_to_sql():
    state, index = a_city_of_ties()
    assert search_state(state, index, WEEK, sort="title") is None
