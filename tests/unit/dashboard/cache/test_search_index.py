"""The drill-down search's index over the latest-state cache: kept up to date as incidents open
and change, it files every slot as an index built afresh would, and reads the deadline sort's
report days in the SQL's order (no ClickHouse)."""

from __future__ import annotations

import pytest

from cityops.dashboard.cache.search_index import ReportedIndex, by_deadline
from cityops.storage.search_queries import IncidentFilter
from tests.unit.dashboard.cache.test_incident_search import (
    DEADLINE_FILTERS,
    a_city_of_deadlines,
    a_city_of_ties,
    a_state,
    brute_force,
)
from tests.unit.dashboard.cache.test_snapshot import NOW, a_row


def filed(index: ReportedIndex) -> dict:
    """What the index holds, its empty runs (left behind by moves) aside."""
    return {
        "order": list(index.order),
        "groups": {k: list(r) for k, r in index.groups.items() if r},
        "by_category": {k: list(r) for k, r in index.by_category.items() if r},
        "deadlines": {d: list(r) for d, r in index.deadlines.items() if r},
        "key_of": list(index.key_of),
        "due_of": list(index.due_of),
    }


@pytest.mark.parametrize("city", [a_city_of_ties, a_city_of_deadlines])
def test_an_index_kept_up_to_date_files_slots_as_one_built_afresh(city):
    state, index = city()
    assert filed(index) == filed(ReportedIndex().update(state))


def test_the_deadline_index_lists_matches_in_the_sql_order_up_to_the_incident_id():
    """The merged report days (the path of dense matches) give every match once, by deadline,
    then newest first."""
    state, index = a_city_of_deadlines()
    closed = {k for k in index.groups if state.statuses.values[k & 0xFFFF] == "closed"}
    for flt in DEADLINE_FILTERS[::3]:
        for wanted, statuses in ((None, ()), (closed, ("closed",))):
            matching = brute_force(state, IncidentFilter(flt.since, flt.until, statuses=statuses))
            for descending in (True, False):
                merged = list(
                    by_deadline(index, state.reported, wanted, flt, descending=descending)
                )
                sign = -1 if descending else 1
                order = [(sign * state.resolve_due[s], -state.reported[s]) for s in merged]
                assert sorted(merged) == sorted(matching)
                assert order == sorted(order)


def test_a_state_loaded_after_the_indexed_one_is_freed_is_indexed_afresh():
    """A reload frees the old state; the new one may sit at the same address (the same id()),
    and the index must still rebuild for it rather than file it as the old one's changes."""
    index = ReportedIndex()
    index.update(a_state(*(a_row(h, reported_at=NOW - h * 60) for h in range(1, 40))))
    # freed here: a new state of the same size class is likely to reuse its memory
    fresh = a_state(*(a_row(h, status="closed", reported_at=NOW - h * 7) for h in range(1, 30)))
    assert filed(index.update(fresh)) == filed(ReportedIndex().update(fresh))
