"""Closing the loop, as tables: the callback (回访) at resolution, the citizen's answer, the
overdue callback; returns (退单) within the window and the desk's decision (改派/维持) with the SLA
clock paused or running (streams/incidents/loop.py)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from cityops.streams.incidents import rows
from cityops.streams.incidents.logic import step
from cityops.streams.incidents.loop import callback_for
from cityops.streams.incidents.model import Rejection, TaskNotice
from cityops.streams.incidents.policy import Duration, PolicyError, policy_from_dict
from cityops.streams.incidents.sla import due_after, next_due
from tests.unit.streams.builders import POLICY, T0, a_tick, an_action, an_incident, moved

DESK = "desk_320105"  # the dispatch desk of the builders' district
LEAD = "ecology_env"  # the lead of a noise complaint


def resolved(**kw):
    incident = moved(an_incident(**kw), "accept", "resolve")
    assert incident.status == "resolved"
    return incident


def refusal(out) -> Rejection | None:
    return next((o for o in out if isinstance(o, Rejection)), None)


def notices(out) -> list[tuple[str, str, str]]:
    return [(n.department, n.kind, n.role) for n in out if isinstance(n, TaskNotice)]


# -- 回访 ---------------------------------------------------------------------------------------
# (opening sender, channel) -> the department that calls back (None: no callback)
CALLBACK_FOR = [
    ("hotline12345", "hotline", "hotline12345"),
    ("hotline12345", "grid_patrol", "hotline12345"),  # a citizen-facing sender: always
    ("urban_mgmt", "app", "hotline12345"),  # a citizen's channel: the first citizen-facing
    ("grid_inspect", "grid_patrol", None),
    ("iot", "sensor", None),
    ("video", "video", None),
]


@pytest.mark.parametrize("sender,channel,expected", CALLBACK_FOR)
def test_who_calls_the_citizen_back(sender, channel, expected):
    incident = an_incident(department=sender, channel=channel)
    assert callback_for(incident, POLICY) == expected


def test_resolution_opens_a_callback_task_with_a_working_day_deadline():
    incident = moved(an_incident(), "accept")
    at = T0 + timedelta(hours=1)
    new, transitions, out = step(incident, an_action("resolve", incident), at, POLICY)
    assert new.status == "resolved" and new.callback == "pending"
    assert new.callback_due == due_after(at, Duration(3, "wd"))
    assert new.close_due is None  # no silent close: the callback's deadline governs
    assert ("hotline12345", "callback", "callback") in notices(out)
    task = new.callback_task
    assert (task.department, task.role, task.status) == ("hotline12345", "callback", "assigned")
    stored = [rows.as_dict("dept_tasks", r) for r in rows.task_rows(new, incident)]
    assert ("hotline12345", "callback", "assigned") in [
        (r["department"], r["role"], r["status"]) for r in stored
    ]
    assert next_due(new) == new.callback_due
    assert new.lead_department not in ("hotline12345",) and new.departments == [LEAD]


# (resolved, satisfied) -> (status, callback, unsolved, satisfied)
ANSWERS = [
    (True, True, ("closed", "solved", 0, True)),
    (True, False, ("closed", "solved", 0, False)),  # solved, yet not satisfied
    (False, True, ("reopened", "unsolved", 1, True)),
    (False, False, ("reopened", "unsolved", 1, False)),
    (None, True, ("closed", "solved", 0, True)),  # an answer of before `resolved`
    (None, False, ("reopened", "unsolved", 1, False)),
]


@pytest.mark.parametrize("answer_resolved,satisfied,expected", ANSWERS)
def test_the_citizens_answer(answer_resolved, satisfied, expected):
    incident = resolved()
    at = T0 + timedelta(days=1)
    answer = an_action("feedback", incident, resolved=answer_resolved, satisfied=satisfied, at=at)
    new, _, out = step(incident, answer, at, POLICY)
    assert refusal(out) is None
    assert (new.status, new.callback, new.unsolved, new.satisfied) == expected
    assert new.callback_task.status == "done" and new.callback_task.done_at == at
    assert new.callback_due is None
    if new.status == "reopened":  # 首问负责: the same lead, a new round with new deadlines
        assert new.lead_department == incident.lead_department == LEAD
        assert new.task(LEAD).status == "assigned"
        assert new.resolve_due > incident.resolve_due and new.reopened == 1
        assert (LEAD, "reopened", "lead") in notices(out)


def test_no_answer_by_the_deadline_is_its_own_state_not_a_close():
    incident = resolved()
    late = incident.callback_due + timedelta(seconds=1)
    new, transitions, out = step(incident, a_tick(late), late, POLICY)
    assert new.status == "callback_overdue" and new.callback == "overdue"
    assert [t.kind for t in transitions] == ["callback_overdue"]
    assert new.callback_task.status == "overdue" and new.breaches == 0
    assert ("hotline12345", "urge", "callback") in notices(out)
    much_later = late + timedelta(days=30)
    again, transitions, _ = step(new, a_tick(much_later), much_later, POLICY)
    assert again.status == "callback_overdue" and transitions == []  # never closes silently
    answer = an_action("feedback", new, resolved=False, satisfied=False, at=much_later)
    reopened, _, out = step(new, answer, much_later, POLICY)
    assert refusal(out) is None and reopened.status == "reopened" and reopened.unsolved == 1


def test_an_unsolved_answer_then_a_new_resolution_calls_back_again():
    incident = resolved()
    answer = an_action("feedback", incident, resolved=False, satisfied=False)
    reopened, _, _ = step(incident, answer, T0, POLICY)
    again = moved(reopened, "accept", "resolve")
    assert again.callback == "pending" and again.callback_task.status == "assigned"
    solved, _, _ = step(
        again, an_action("feedback", again, resolved=True, satisfied=True), T0, POLICY
    )
    assert (solved.status, solved.callback, solved.unsolved) == ("closed", "solved", 1)


def test_a_repeat_report_ends_a_pending_callback():
    from tests.unit.streams.builders import a_report

    incident = resolved()
    new, _, _ = step(incident, a_report(), T0 + timedelta(hours=1), POLICY)
    assert new.status == "reopened" and new.callback == "" and new.callback_due is None
    assert new.callback_task.status == "released"


# -- 退单 / 改派 ----------------------------------------------------------------------------
def returned(at=T0 + timedelta(minutes=30), policy=POLICY):
    incident = an_incident()
    action = an_action("return", incident, reason="inside a residential compound", at=at)
    new, transitions, out = step(incident, action, at, policy)
    assert refusal(out) is None, refusal(out)
    return incident, new, transitions, out


def test_a_return_within_the_window_goes_to_the_district_desk():
    _, new, transitions, out = returned()
    assert [t.kind for t in transitions] == ["returned"]
    assert transitions[0].department == LEAD
    assert transitions[0].reason == "inside a residential compound"
    assert new.returns == 1 and new.returned_by == LEAD and new.disputed_since is not None
    assert new.task(LEAD).status == "returned" and new.lead_department == LEAD
    assert [(n.department, n.kind, n.reason) for n in out] == [
        (DESK, "return_review", "inside a residential compound")
    ]


# (what happens before the return, minutes after dispatch it is sent) -> refusal start
RETURN_REFUSALS = [
    ((), 121, "return window passed"),
    (("accept",), 10, "return after the task was accepted"),
    (("accept", "resolve"), 10, "return on a resolved incident"),
]


@pytest.mark.parametrize("before,minutes,expected", RETURN_REFUSALS)
def test_returns_refused(before, minutes, expected):
    incident = moved(an_incident(), *before)
    at = T0 + timedelta(minutes=minutes)
    new, _, out = step(
        incident, an_action("return", incident, reason="not ours", at=at), at, POLICY
    )
    assert refusal(out).reason.startswith(expected), refusal(out)
    assert new is incident and new.returns == 0


def test_a_second_return_waits_for_the_first_decision():
    _, new, _, _ = returned()
    at = T0 + timedelta(minutes=40)
    again, _, out = step(new, an_action("return", new, reason="still not", at=at), at, POLICY)
    assert "already waits" in refusal(out).reason and again.returns == 1


@pytest.mark.parametrize("verb", ["accept", "progress", "resolve"])
def test_the_returning_lead_cannot_act_while_the_return_waits(verb):
    _, new, _, _ = returned()
    _, _, out = step(new, an_action(verb, new), T0 + timedelta(hours=1), POLICY)
    assert "waits for the dispatch desk" in refusal(out).reason


def test_the_desk_upholds_the_lead():
    _, new, _, _ = returned()
    at = T0 + timedelta(hours=1)
    decision = an_action("reassign", new, DESK, to_department=LEAD, comment="yours", at=at)
    kept, transitions, out = step(new, decision, at, POLICY)
    assert [t.kind for t in transitions] == ["return_upheld"]
    assert (transitions[0].department, transitions[0].reason) == (DESK, "yours")
    assert kept.lead_department == LEAD and kept.task(LEAD).status == "assigned"
    assert kept.disputed_since is None and kept.returns == 1
    assert notices(out) == [(LEAD, "assigned", "lead")]
    accepted, _, out = step(kept, an_action("accept", kept), at, POLICY)
    assert refusal(out) is None and accepted.status == "accepted"


def test_the_desk_reassigns_to_another_department():
    _, new, _, _ = returned()
    at = T0 + timedelta(hours=1)
    decision = an_action("reassign", new, DESK, to_department="housing", comment="物业", at=at)
    moved_to, transitions, out = step(new, decision, at, POLICY)
    assert [t.kind for t in transitions] == ["reassigned"]
    assert moved_to.lead_department == "housing"
    assert moved_to.task(LEAD).status == "released"
    assert (moved_to.task("housing").role, moved_to.task("housing").status) == ("lead", "assigned")
    assert notices(out) == [(LEAD, "released", "lead"), ("housing", "assigned", "lead")]
    assert rows.as_dict("incidents", rows.incident_row(moved_to))["joint"] == 0
    _, _, out = step(moved_to, an_action("accept", moved_to, LEAD), at, POLICY)
    assert "is not on incident" in refusal(out).reason
    accepted, _, out = step(moved_to, an_action("accept", moved_to, "housing"), at, POLICY)
    assert refusal(out) is None and accepted.status == "accepted"


def test_a_return_is_not_given_to_another_districts_desk():
    _, new, _, _ = returned()
    decision = an_action("reassign", new, DESK, to_department="desk_320102")
    kept, _, out = step(new, decision, T0 + timedelta(hours=1), POLICY)
    assert "the desk of another district" in refusal(out).reason and kept is new


def test_a_decision_needs_a_pending_return():
    incident = an_incident()
    _, _, out = step(
        incident, an_action("reassign", incident, DESK, to_department="housing"), T0, POLICY
    )
    assert refusal(out).reason.startswith("no return of")


# policy's SLA clock while disputed -> (accept deadline fires during the dispute, shifted after)
CLOCKS = [("paused", False, True), ("running", True, False)]


@pytest.mark.parametrize("clock,fires,shifted", CLOCKS)
def test_the_sla_clock_while_a_return_waits(clock, fires, shifted):
    policy = dataclasses.replace(POLICY, sla_clock_while_disputed=clock)
    incident, new, _, _ = returned(policy=policy)
    past_accept = incident.accept_due + timedelta(hours=1)
    ticked, transitions, _ = step(new, a_tick(past_accept), past_accept, policy)
    assert ("sla_breached" in [t.kind for t in transitions]) is fires
    decision = an_action("reassign", new, DESK, to_department=LEAD, at=past_accept)
    decided, _, _ = step(new, decision, past_accept, policy)
    waited = past_accept - new.disputed_since
    expected = incident.accept_due + (waited if shifted else timedelta(0))
    assert decided.accept_due == expected
    assert decided.resolve_due == incident.resolve_due + (waited if shifted else timedelta(0))


# -- who may: refused from the attacker's side (path data.department) ---------------------------
# (verb, acting department, extra fields) -> the refusal's start
ATTACKS = [
    ("return", "housing", {"reason": "not ours"}, "return only by the lead department"),
    ("return", "hotline12345", {"reason": "not ours"}, "return only by the lead department"),
    ("reassign", "housing", {"to_department": "housing"}, "reassign only by the dispatch desk"),
    ("reassign", "desk_320102", {"to_department": "housing"}, '"desk_320102" acts only on'),
    ("feedback", LEAD, {"resolved": True, "satisfied": True}, "feedback only from a citizen"),
]


@pytest.mark.parametrize("verb,department,extra,expected", ATTACKS)
def test_outsiders_are_refused(verb, department, extra, expected):
    incident = resolved() if verb == "feedback" else returned()[1]
    if verb == "return":
        incident = an_incident()
    new, _, out = step(incident, an_action(verb, incident, department, **extra), T0, POLICY)
    rejection = refusal(out)
    assert rejection is not None and rejection.reason.startswith(expected), rejection
    assert rejection.path == "data.department" and new is incident


# -- the policy file -----------------------------------------------------------------------------
def test_policy_reads_callback_and_returns():
    policy = policy_from_dict(
        {
            "callback": {"within": "2wd", "channels": ["hotline"]},
            "returns": {"window": "4h", "sla_clock": "running"},
        }
    )
    assert policy.callback_within == Duration(2, "wd") and policy.callback_channels == ("hotline",)
    assert policy.return_window == Duration(4, "h")
    assert policy.sla_clock_while_disputed == "running"


@pytest.mark.parametrize(
    "doc,expected",
    [
        ({"returns": {"sla_clock": "sometimes"}}, "returns.sla_clock"),
        ({"returns": {"window": "soon"}}, "returns.window"),
        ({"callback": {"channels": ["pigeon"]}}, "callback.channels"),
        ({"callback": {"within": "3 weeks"}}, "callback.within"),
    ],
)
def test_policy_errors_name_the_key(doc, expected):
    with pytest.raises(PolicyError, match=expected):
        policy_from_dict(doc)
