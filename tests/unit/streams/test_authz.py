"""Who may act on an incident, from the attacker's side: another department's name, a citizen's
answer from a non-citizen-facing department, joint handling asked by an outsider, a desk of
another district, and another department's event id (CONTRACT §8)."""

from __future__ import annotations

import pytest

from cityops.streams.incidents.authz import authorize, sender_refusal
from cityops.streams.incidents.logic import step
from cityops.streams.incidents.model import Incident, Rejection, was_applied
from cityops.streams.incidents.policy import Policy
from tests.unit.streams.builders import (
    POLICY,
    T0,
    a_report,
    an_action,
    an_engine,
    an_incident,
    moved,
)

LEAD = "traffic_police"  # lead of disorderly parking


def traffic_incident(status_verbs: tuple[str, ...] = ()) -> Incident:
    incident = an_incident("parking", 1)
    assert incident.lead_department == LEAD
    return moved(incident, *status_verbs)


# (verb, department named in data, sender = department of source, verbs done before) -> the
# start of the refusal, or None (allowed)
CASES = [
    # a department acts only in its own name
    ("accept", LEAD, LEAD, (), None),
    ("accept", LEAD, "gas", (), 'data.department "traffic_police" is not the sender "gas"'),
    ("resolve", LEAD, "gas", ("accept",), 'data.department "traffic_police" is not the sender'),
    ("progress", LEAD, "water", ("accept",), 'data.department "traffic_police" is not the sender'),
    ("note", LEAD, "gas", (), 'data.department "traffic_police" is not the sender'),
    ("escalate", LEAD, "gas", (), 'data.department "traffic_police" is not the sender'),
    # feedback: only citizen-facing departments, and only in their own name
    ("feedback", "hotline12345", "hotline12345", ("accept", "resolve"), None),
    ("feedback", LEAD, LEAD, ("accept", "resolve"), "feedback only from a citizen-facing"),
    ("feedback", "gas", "gas", ("accept", "resolve"), "feedback only from a citizen-facing"),
    ("feedback", "hotline12345", "gas", ("accept", "resolve"), 'data.department "hotline12345"'),
    ("feedback", "desk_320105", "desk_320105", ("accept", "resolve"), "feedback only from"),
    # assist: only a department on the incident
    ("assist", LEAD, LEAD, (), None),
    ("assist", "gas", "gas", (), 'assist requested by "gas", which is not on incident'),
    ("assist", LEAD, "gas", (), 'data.department "traffic_police" is not the sender'),
    # a district's dispatch desk acts only in its district (the incident is in 320105)
    ("note", "desk_320105", "desk_320105", (), None),
    ("note", "desk_320102", "desk_320102", (), '"desk_320102" acts only on incidents of district'),
    ("escalate", "desk_320104", "desk_320104", (), '"desk_320104" acts only on incidents of'),
]


@pytest.mark.parametrize("verb,department,sender,before,refusal", CASES)
def test_authorize(verb, department, sender, before, refusal):
    incident = traffic_incident(before)
    extra = {"satisfied": True} if verb == "feedback" else {}
    if verb == "assist":
        extra = {"departments": ["health"]}
    item = an_action(verb, incident, department, sender=sender, **extra)
    found = authorize(item, incident, POLICY)
    if refusal is None:
        assert found is None
    else:
        assert found is not None and found.startswith(refusal), found


def test_sender_refusal_names_both_departments():
    assert sender_refusal("gas", "gas") is None
    reason = sender_refusal("gas", "traffic_police")
    assert "traffic_police" in reason and "/departments/gas" in reason


def test_the_citizen_facing_departments_come_from_the_policy():
    incident = traffic_incident(("accept", "resolve"))
    item = an_action("feedback", incident, "grid_inspect", satisfied=True)
    assert authorize(item, incident, POLICY) is not None
    assert authorize(item, incident, Policy(citizen_facing=("grid_inspect",))) is None


# -- the attacks through `step`: refused with the reason, the incident unchanged ----------------
ATTACKS = [
    ("gas accepts in the lead's name", "accept", LEAD, "gas", (), {}),
    ("gas resolves in the lead's name", "resolve", LEAD, "gas", ("accept",), {}),
    (
        "gas answers for the hotline",
        "feedback",
        "hotline12345",
        "gas",
        ("accept", "resolve"),
        {"satisfied": True},
    ),
    (
        "the lead answers for the citizen",
        "feedback",
        LEAD,
        LEAD,
        ("accept", "resolve"),
        {"satisfied": True},
    ),
    (
        "gas asks for joint handling as the lead",
        "assist",
        LEAD,
        "gas",
        (),
        {"departments": ["health"]},
    ),
    (
        "an outsider asks for joint handling",
        "assist",
        "gas",
        "gas",
        (),
        {"departments": ["health"]},
    ),
]


@pytest.mark.parametrize("name,verb,department,sender,before,extra", ATTACKS)
def test_an_attack_is_refused_and_changes_nothing(name, verb, department, sender, before, extra):
    incident = traffic_incident(before)
    item = an_action(verb, incident, department, sender=sender, **extra)
    new, transitions, out = step(incident, item, T0, POLICY)
    assert new is incident and transitions == []
    assert [type(o) for o in out] == [Rejection], name
    assert out[0].event_id == item.id and out[0].reason


# -- event ids are unique per source only ------------------------------------------------------
def test_two_departments_reports_with_one_id_open_two_incidents():
    engine = an_engine({}, {})
    squatter = a_report("parking", 1, id="evt-1", department="gas")
    real = a_report("noise", 1, id="evt-1", department="hotline12345")
    engine.apply(0, [squatter, real])
    incidents, _ = engine.table_writes()
    opened = {
        (inc.opened_by_department, inc.opened_by)
        for items in incidents.values()
        for _, inc in items
    }
    assert opened == {("gas", "evt-1"), ("hotline12345", "evt-1")}


def test_a_repeat_with_another_departments_id_still_links():
    incident = an_incident("noise", id="evt-7")  # opened by the hotline's evt-7
    same_place = a_report("noise", id="evt-7", department="grid_inspect")
    new, transitions, _ = step(incident, same_place, T0, POLICY)
    assert new.repeat_count == 1 and transitions


def test_an_action_with_an_id_already_used_by_another_department_applies():
    incident = traffic_incident()
    squatter_note = an_action("note", incident, "desk_320105", id="act-1")
    incident, _, _ = step(incident, squatter_note, T0, POLICY)
    accept = an_action("accept", incident, id="act-1")
    new, transitions, out = step(incident, accept, T0, POLICY)
    assert new.status == "accepted" and not out


def test_a_redelivery_from_the_same_sender_applies_once():
    incident = traffic_incident()
    accept = an_action("accept", incident, id="act-2")
    once, _, _ = step(incident, accept, T0, POLICY)
    again, transitions, out = step(once, accept, T0, POLICY)
    assert again is once and transitions == [] and out == []


def test_incidents_stored_with_bare_ids_still_drop_their_redeliveries():
    incident = traffic_incident()
    incident.applied = ["old-accept"]
    incident.opened_by, incident.opened_by_department = "old-report", ""
    assert was_applied(incident, LEAD, "old-accept")
    assert was_applied(incident, "hotline12345", "old-report")
    incident.opened_by_department = "gas"  # stored since: only its sender's redelivery matches
    assert not was_applied(incident, "hotline12345", "old-report")
    assert was_applied(incident, "gas", "old-report")
    # a keyed entry is never matched by a bare id that looks like it
    incident.applied = ["gas/x"]
    assert not was_applied(incident, "water", "gas/x")
    assert was_applied(incident, "gas", "x")
