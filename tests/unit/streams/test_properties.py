"""Property: no sequence of reports, actions and ticks crashes `step`, and its invariants hold."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.schemas.event_types import ACTION_VERBS
from cityops.schemas.taxonomy import CATEGORIES, DEPARTMENTS
from cityops.streams.incidents.logic import step
from cityops.streams.incidents.model import STATUSES, Rejection
from tests.unit.streams.builders import POLICY, T0, a_report, a_tick, an_action

LEVELS = ["micro_grid", "grid", "community", "street", "district"]
DEPTS = ["water", "urban_mgmt", "traffic_police", "ecology_env", "hotline12345", "gas"]
assert set(DEPTS) <= set(DEPARTMENTS)

reports = st.builds(
    lambda c, s, lv: ("report", c, s, lv),
    st.sampled_from(sorted(CATEGORIES)),
    st.integers(1, 4),
    st.sampled_from(LEVELS),
)
actions = st.builds(
    lambda v, d, ds, sat: ("action", v, d, ds, sat),
    st.sampled_from(ACTION_VERBS),
    st.sampled_from(DEPTS),
    st.lists(st.sampled_from(DEPTS), max_size=3),
    st.booleans(),
)
ticks = st.builds(lambda h: ("tick", h), st.integers(0, 24 * 40))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(reports, actions, ticks), max_size=30))
def test_no_event_sequence_crashes_step(moves):
    incident, now, seq = None, T0, 0
    for move in moves:
        if move[0] == "report":
            item = a_report(move[1], move[2], level=move[3], at=now)
        elif move[0] == "action":
            _, verb, dept, depts, sat = move
            item = an_action(
                verb,
                incident or "320105001-0",
                dept,
                departments=depts if verb in ("assist", "resolve") else None,
                satisfied=sat if verb == "feedback" else None,
                at=now,
            )
        else:
            now = now + timedelta(hours=move[1])
            item = a_tick(now)
        new, transitions, out = step(incident, item, now, POLICY)
        if any(isinstance(o, Rejection) for o in out):
            assert new is incident and transitions == []
        if new is not None:
            assert new.status in STATUSES
            assert [t.seq for t in transitions] == list(range(seq + 1, seq + 1 + len(transitions)))
            if transitions:
                seq = transitions[-1].seq
            assert sum(t.role == "lead" for t in new.tasks) == 1
        incident = new
