"""SLA deadlines on clock time and on China's working days; one firing per deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cityops.streams.incidents.logic import step
from cityops.streams.incidents.policy import Policy, policy_from_dict
from cityops.streams.incidents.sla import deadlines, due_escalations, next_due
from tests.unit.streams.builders import a_report, a_tick

BJ_0930_10H = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # Wednesday 10:00 Beijing


def test_emergency_deadlines_are_clock_hours():
    accept, resolve = deadlines(BJ_0930_10H, "gas_leak", "emergency_life", 3, Policy())
    assert accept - BJ_0930_10H == timedelta(minutes=30)
    assert resolve - BJ_0930_10H == timedelta(hours=2)


def test_complaint_deadlines_skip_national_day_and_use_the_make_up_saturday():
    accept, resolve = deadlines(BJ_0930_10H, "noise", "complaint", 1, Policy())
    assert accept == datetime(2026, 10, 8, 2, 0, tzinfo=UTC)  # over 1–7 October
    # 13 working days: Oct 8, 9, 10 (Saturday 调休), 12–16, 19–23 -> 23 October
    assert resolve == datetime(2026, 10, 23, 2, 0, tzinfo=UTC)


def test_consultation_gets_three_working_days():
    _, resolve = deadlines(BJ_0930_10H, "consultation", "consultation", 1, Policy())
    assert resolve == datetime(2026, 10, 10, 2, 0, tzinfo=UTC)  # Oct 8, 9, 10 (调休)


def test_policy_change_does_not_move_deadlines_already_set():
    report = a_report("noise", 1, at=BJ_0930_10H)
    incident, _, _ = step(None, report, BJ_0930_10H, Policy())
    strict = policy_from_dict({"sla": {"complaint": {"accept": "1h", "resolve": "2h"}}})
    later = BJ_0930_10H + timedelta(hours=3)
    new, transitions, _ = step(incident, a_tick(later), later, strict)
    assert transitions == [] and new.accept_due == incident.accept_due


def test_due_escalations_lists_each_missed_deadline_once():
    incident, _, _ = step(None, a_report("gas_leak", 3), BJ_0930_10H, Policy())
    late = BJ_0930_10H + timedelta(hours=3)
    assert [name for name, _ in due_escalations(incident, late)] == ["accept", "resolve"]
    fired, transitions, _ = step(incident, a_tick(late), late, Policy())
    assert [t.kind for t in transitions] == [
        "sla_breached",
        "escalated",
        "sla_breached",
        "escalated",
    ]
    assert fired.escalations == 2 and due_escalations(fired, late + timedelta(days=9)) == []
    assert next_due(fired) is None
