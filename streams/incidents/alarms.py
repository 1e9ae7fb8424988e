"""Early-warning follow-ups on the incident a rule (or a silent feed) raised: a report whose
`sensor.alarm` is "peak" updates that incident with the worst value so far, "cleared" resolves it
(the condition that opened it is gone). "raised" is an ordinary report: it opens the incident, or
is linked to the sensor's incident by the repeat rules (reopening a resolved one). So every alarm
takes the one incident path: lifecycle, routing, storage and notices (docs/early-warning.md).
Pure, like logic.py, which calls it.
"""

from __future__ import annotations

from datetime import datetime

from cityops.schemas.event_types import Report
from cityops.streams.incidents.model import (
    Emitted,
    Incident,
    Rejection,
    ReportIn,
    Transition,
)
from cityops.streams.incidents.moves import Outcome, change, move, notice
from cityops.streams.incidents.policy import Policy
from cityops.streams.incidents.repeat import Candidate, Lookup, in_window
from cityops.streams.incidents.sla import due_after

FOLLOW_UPS = frozenset({"peak", "cleared"})


def follow_up_of(report: Report) -> str | None:
    """ "peak" or "cleared" for a rule's follow-up report, else None (an ordinary report)."""
    sensor = report.sensor
    if sensor is None or sensor.alarm not in FOLLOW_UPS:
        return None
    return sensor.alarm


def is_alarm(report: Report) -> bool:
    """Raised by a rule or a silent feed (any step): one incident per sensor, so the engine
    matches it by its sensor only (two sensors of one street corner keep two incidents)."""
    return report.sensor is not None and report.sensor.alarm is not None


def sensor_match(
    report: Report, prefix: str, lookup: Lookup, now: datetime, days_after_close: float
) -> Candidate | None:
    """The incident of the report's sensor under `prefix` (its street and category), open first:
    an alarm is matched by its sensor only, never by place (a sensor's clear must not resolve a
    citizen's report of the same street corner, and each sensor keeps its one incident)."""
    sensor = report.sensor.sensor_id if report.sensor else ""
    found = [
        c
        for c in lookup([f"{prefix}s:{sensor}"])
        if c.sensor_id == sensor and in_window(c, now, days_after_close)
    ]
    if not found:
        return None
    return max(found, key=lambda c: (c.closed_at is None, c.closed_at or now))


def follow_up(incident: Incident | None, item: ReportIn, now: datetime, policy: Policy) -> Outcome:
    """The effect of a "peak" or "cleared" report on the sensor's incident (None: it has none)."""
    if incident is None:
        return None, [], []  # nothing raised for this sensor (or long closed): no incident
    sensor = item.report.sensor
    assert sensor is not None  # follow_up_of() said so
    if incident.opened_by_department != item.department or incident.sensor_id != sensor.sensor_id:
        # Only the department whose alarm opened the incident follows it up: another one
        # (knowing or guessing the sensor id) may not resolve it.
        reason = f"{sensor.alarm} for incident {incident.id}, which {item.department} did not raise"
        return incident, [], [Rejection(item.id, reason, "data.sensor.alarm")]
    if not incident.is_open:
        return incident, [], []  # resolved by its department meanwhile: nothing to follow
    if sensor.alarm == "peak":
        # The rule's evaluator sends a peak only when the value got worse (in its direction).
        return change(incident, _key(item), now, lambda inc, out: [_peak(inc, item, now)])
    return change(incident, _key(item), now, lambda inc, out: _clear(inc, item, now, policy, out))


def _key(item: ReportIn) -> str:
    return f"{item.department}/{item.id}"


def _reading(item: ReportIn) -> str:
    sensor = item.report.sensor
    assert sensor is not None
    unit = f" {sensor.unit}" if sensor.unit else ""
    rule = f" (rule {sensor.rule})" if sensor.rule else ""
    return f"{sensor.metric} {sensor.value:g}{unit}{rule}"


def _peak(inc: Incident, item: ReportIn, now: datetime) -> Transition:
    assert item.report.sensor is not None
    inc.sensor_peak = item.report.sensor.value
    return move(
        inc, "sensor_peak", inc.status, now, item.id, item.department, reason=_reading(item)
    )


def _clear(
    inc: Incident, item: ReportIn, now: datetime, policy: Policy, out: list[Emitted]
) -> list[Transition]:
    """The condition is gone: the tasks still open are released (each department told), the
    incident resolves; it closes after the policy's wait like any resolved incident."""
    reason = f"cleared: {_reading(item)}"
    for task in inc.tasks:
        if task.status in ("assigned", "accepted"):
            task.status, task.done_at = "released", now
            out.append(notice(inc, task, "released", now, reason))
    inc.resolved_at = now
    inc.close_due = due_after(now, policy.close_after_resolved)
    return [move(inc, "cleared", "resolved", now, item.id, item.department, reason=reason)]
