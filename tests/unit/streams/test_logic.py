"""The lifecycle table: every allowed and every refused move, joint handling, repeats, timers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cityops.streams.incidents.logic import incident_id_for, partition_key_of, step
from cityops.streams.incidents.model import Rejection, TaskNotice
from tests.unit.streams.builders import (
    POLICY,
    STREET,
    T0,
    a_report,
    a_tick,
    an_action,
    an_incident,
    moved,
)

# (status reached by these lead moves, from a new noise complaint)
PATHS = {
    "dispatched": (),
    "accepted": ("accept",),
    "in_progress": ("accept", "progress"),
    "resolved": ("accept", "resolve"),
    "closed": ("accept", "resolve", "feedback"),
}


def at_status(status: str):
    incident = an_incident()
    incident = moved(incident, *PATHS[status])
    assert incident.status == status
    return incident


def reopened_incident():
    incident = at_status("resolved")
    new, _, _ = step(incident, an_action("feedback", incident, satisfied=False), T0, POLICY)
    assert new.status == "reopened"
    return new


# (from status, verb) -> the new status, or the start of the refusal reason
LEAD_MOVES = [
    ("dispatched", "accept", "accepted"),
    ("dispatched", "progress", "refused: progress before accept"),
    ("dispatched", "resolve", "refused: resolve before accept"),
    ("dispatched", "feedback", "refused: feedback needs a resolved incident"),
    ("dispatched", "note", "dispatched"),
    ("dispatched", "escalate", "dispatched"),
    ("accepted", "accept", "refused: already accepted"),
    ("accepted", "progress", "in_progress"),
    ("accepted", "resolve", "resolved"),
    ("accepted", "feedback", "refused: feedback needs a resolved incident"),
    ("in_progress", "progress", "in_progress"),
    ("in_progress", "resolve", "resolved"),
    ("in_progress", "accept", "refused: already accepted"),
    ("resolved", "accept", "refused: accept on a resolved incident"),
    ("resolved", "progress", "refused: progress on a resolved incident"),
    ("resolved", "resolve", "refused: resolve on a resolved incident"),
    ("resolved", "escalate", "refused: escalate on a resolved incident"),
    ("resolved", "feedback", "closed"),
    ("resolved", "note", "resolved"),
    ("closed", "accept", "refused: accept on a closed incident"),
    ("closed", "progress", "refused: progress on a closed incident"),
    ("closed", "resolve", "refused: resolve on a closed incident"),
    ("closed", "escalate", "refused: escalate on a closed incident"),
    ("closed", "assist", "refused: assist on a closed incident"),
    ("closed", "feedback", "refused: feedback needs a resolved incident, it is closed"),
    ("closed", "note", "closed"),
]


@pytest.mark.parametrize("start,verb,expected", LEAD_MOVES)
def test_lead_department_lifecycle_moves(start, verb, expected):
    incident = at_status(start)
    extra = {"satisfied": True} if verb == "feedback" else {}
    if verb == "assist":
        extra = {"departments": ["water"]}
    new, transitions, out = step(incident, an_action(verb, incident, **extra), T0, POLICY)
    rejections = [o for o in out if isinstance(o, Rejection)]
    if expected.startswith("refused: "):
        assert rejections and rejections[0].reason.startswith(expected.removeprefix("refused: "))
        assert new is incident and transitions == []
    else:
        assert not rejections
        assert new.status == expected
        assert transitions and transitions[-1].to_status == expected
        assert new.version == incident.version + 1


def test_reopened_incident_is_accepted_again_and_resolved():
    incident = reopened_incident()
    assert incident.reopened == 1 and incident.satisfied is False
    incident = moved(incident, "accept", "resolve", "feedback")
    assert incident.status == "closed" and incident.satisfied is True


def test_reopened_incident_refuses_resolve_before_accept():
    incident = reopened_incident()
    _, _, out = step(incident, an_action("resolve", incident), T0, POLICY)
    assert out == [Rejection(out[0].event_id, "resolve before accept")]


def test_action_on_unknown_incident_is_rejected_with_reason():
    _, _, out = step(None, an_action("accept", "320105001-nope"), T0, POLICY)
    assert out[0].reason == "unknown incident '320105001-nope'"


def test_department_not_on_the_incident_is_refused():
    incident = an_incident()
    _, _, out = step(incident, an_action("accept", incident, "gas"), T0, POLICY)
    assert out[0].reason.startswith("department gas is not on incident")


def test_feedback_may_come_from_the_hotline():
    incident = at_status("resolved")
    new, _, _ = step(
        incident, an_action("feedback", incident, "hotline12345", satisfied=True), T0, POLICY
    )
    assert new.status == "closed"


def test_the_same_event_twice_has_one_effect():
    incident = an_incident()
    accept = an_action("accept", incident)
    once, transitions, _ = step(incident, accept, T0, POLICY)
    twice, again, out = step(once, accept, T0, POLICY)
    assert twice is once and again == [] and out == []
    assert len(transitions) == 1


def test_the_same_report_twice_has_one_effect():
    report = a_report()
    incident, _, _ = step(None, report, T0, POLICY)
    again, transitions, out = step(incident, report, T0, POLICY)
    assert again is incident and transitions == [] and out == []


def test_opening_a_report_dispatches_it_and_assigns_the_lead():
    report = a_report("noise", 1)
    incident, transitions, out = step(None, report, T0, POLICY)
    assert incident.id == incident_id_for(report.department, report.id, report.chain)
    assert partition_key_of(incident.id) == STREET
    assert [t.kind for t in transitions] == ["opened", "dispatched"]
    assert [(t.from_status, t.to_status) for t in transitions] == [
        ("", "reported"),
        ("reported", "dispatched"),
    ]
    assert [t.seq for t in transitions] == [1, 2]
    assert incident.level == "grid" and incident.owner_unit == incident.unit_code
    assert out == [TaskNotice("ecology_env", "assigned", incident.id, "lead", 2, T0)]


def test_extreme_report_goes_to_the_district_and_informs_the_city():
    incident, transitions, _ = step(None, a_report("gas_leak", 4), T0, POLICY)
    assert incident.level == "district" and incident.city_informed
    assert "city_informed" in [t.kind for t in transitions]


def test_step_never_mutates_its_input():
    incident = an_incident()
    before = incident.tasks[0].status
    step(incident, an_action("accept", incident), T0, POLICY)
    assert incident.status == "dispatched" and incident.tasks[0].status == before


# -- joint handling -----------------------------------------------------------------------------
def joint_incident():
    incident = an_incident("waterlogging", 3)
    assert incident.lead_department == "water"
    assert [(t.department, t.role) for t in incident.tasks] == [
        ("water", "lead"),
        ("urban_mgmt", "assist"),
        ("traffic_police", "assist"),
    ]
    return incident


def test_joint_incident_resolves_only_when_every_assist_is_done():
    incident = moved(joint_incident(), "accept")
    for dept in ("urban_mgmt", "traffic_police"):
        incident, _, _ = step(incident, an_action("accept", incident, dept), T0, POLICY)
    incident, transitions, _ = step(incident, an_action("resolve", incident), T0, POLICY)
    assert incident.status == "accepted" and transitions[-1].kind == "lead_resolved"
    incident, _, _ = step(incident, an_action("resolve", incident, "urban_mgmt"), T0, POLICY)
    assert incident.status == "accepted"
    incident, transitions, _ = step(
        incident, an_action("resolve", incident, "traffic_police"), T0, POLICY
    )
    assert incident.status == "resolved" and transitions[-1].kind == "resolved"


def test_lead_may_release_an_assist_when_resolving():
    incident = moved(joint_incident(), "accept")
    incident, _, _ = step(incident, an_action("accept", incident, "urban_mgmt"), T0, POLICY)
    incident, _, _ = step(incident, an_action("resolve", incident, "urban_mgmt"), T0, POLICY)
    incident, transitions, out = step(
        incident, an_action("resolve", incident, departments=["traffic_police"]), T0, POLICY
    )
    assert incident.status == "resolved"
    assert incident.task("traffic_police").status == "released"
    assert TaskNotice("traffic_police", "released", incident.id, "assist", out[0].seq, T0) in out


def test_assist_task_must_be_accepted_before_it_is_done():
    incident = joint_incident()
    _, _, out = step(incident, an_action("resolve", incident, "urban_mgmt"), T0, POLICY)
    assert out[0].reason == "resolve before accept"


def test_releasing_a_department_that_is_not_assisting_is_refused():
    incident = moved(joint_incident(), "accept")
    _, _, out = step(incident, an_action("resolve", incident, departments=["gas"]), T0, POLICY)
    assert out[0].reason.startswith("cannot release gas")


def test_assist_request_adds_tasks_and_a_repeated_request_is_refused():
    incident = moved(an_incident(), "accept")
    incident, transitions, out = step(
        incident,
        an_action("assist", incident, departments=["public_security", "housing"]),
        T0,
        POLICY,
    )
    assert [t.department for t in incident.tasks] == ["ecology_env", "public_security", "housing"]
    assert {o.department for o in out} == {"public_security", "housing"}
    _, _, out = step(incident, an_action("assist", incident, departments=["housing"]), T0, POLICY)
    assert out[0].reason.startswith("departments already on the incident")


def test_released_department_is_no_longer_on_the_incident():
    incident = moved(joint_incident(), "accept")
    incident, _, _ = step(
        incident,
        an_action("resolve", incident, departments=["urban_mgmt", "traffic_police"]),
        T0,
        POLICY,
    )
    _, _, out = step(incident, an_action("note", incident, "urban_mgmt"), T0, POLICY)
    assert out == []  # notes stay possible
    _, _, out = step(incident, an_action("accept", incident, "urban_mgmt"), T0, POLICY)
    assert out[0].reason.startswith("accept on a resolved incident") or "not on" in out[0].reason


# -- repeats ------------------------------------------------------------------------------------
def test_repeat_report_links_and_counts():
    incident = an_incident()
    new, transitions, _ = step(incident, a_report(), T0, POLICY)
    assert new.repeat_count == 1 and new.status == "dispatched"
    assert [t.kind for t in transitions] == ["repeat_linked"]


def test_repeat_after_close_reopens_incident():
    incident = at_status("closed")
    new, transitions, out = step(
        incident, a_report(at=T0 + timedelta(days=3)), T0 + timedelta(days=3), POLICY
    )
    assert new.status == "reopened" and new.reopened == 1 and new.repeat_count == 1
    # closed but not solved: the community secretary supervises it (书记督办, supervise.py)
    assert [t.kind for t in transitions] == ["repeat_linked", "reopened", "supervised"]
    assert new.supervision == "community"
    assert new.closed_at is None and new.accept_due > T0 + timedelta(days=3)
    assert [o.kind for o in out] == ["reopened"]


# -- timers -------------------------------------------------------------------------------------
def test_missed_accept_deadline_breaches_urges_and_escalates_once():
    incident = an_incident("waterlogging", 3)  # street level, 30 min to accept
    late = incident.accept_due + timedelta(seconds=1)
    new, transitions, out = step(incident, a_tick(late), late, POLICY)
    assert [t.kind for t in transitions] == ["sla_breached", "escalated"]
    assert new.level == "district" and new.escalations == 1 and new.breaches == 1
    assert new.owner_unit == incident.owner_unit  # 首问负责: the owner stays
    assert {(o.department, o.kind) for o in out} == {("water", "urge"), ("water", "escalated")}
    again, transitions, _ = step(new, a_tick(late + timedelta(minutes=5)), late, POLICY)
    assert transitions == [] and again is new


def test_escalation_chain_climbs_grid_to_city():
    incident = an_incident("noise", 1)
    levels = [incident.level]
    for _ in range(5):
        new, _, out = step(incident, an_action("escalate", incident), T0, POLICY)
        if out and isinstance(out[0], Rejection):
            assert out[0].reason == "already at city level"
            break
        incident = new
        levels.append(incident.level)
    assert levels == ["grid", "community", "street", "district", "city"]
    assert incident.unit_code == "320100" and incident.escalations == 4


def test_met_deadline_does_not_fire():
    incident = moved(an_incident("waterlogging", 3), "accept")
    late = incident.accept_due + timedelta(minutes=1)
    new, transitions, _ = step(incident, a_tick(late), late, POLICY)
    assert transitions == [] and new is incident


def test_resolved_incident_closes_without_feedback_after_the_policy_delay():
    # a grid patrol's find: no citizen waits for a callback (a hotline report's callback: test_loop)
    incident = moved(
        an_incident(channel="grid_patrol", department="grid_inspect"), *PATHS["resolved"]
    )
    assert incident.callback == "" and incident.close_due is not None
    later = incident.close_due + timedelta(seconds=1)
    new, transitions, _ = step(incident, a_tick(later), later, POLICY)
    assert new.status == "closed" and transitions[-1].kind == "auto_closed"


def test_tick_without_incident_does_nothing():
    assert step(None, a_tick(T0), T0, POLICY) == (None, [], [])
