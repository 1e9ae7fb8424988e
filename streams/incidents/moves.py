"""The building blocks of one incident change, shared by the lifecycle rules in logic.py: copy the
incident, move its status (one numbered transition each), escalate, reopen, notify a department.
Pure: they change only the copy they are given.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec

from cityops.streams.incidents.model import (
    MAX_APPLIED_IDS,
    DeptTask,
    Emitted,
    Incident,
    TaskNotice,
    Transition,
)
from cityops.streams.incidents.policy import Policy
from cityops.streams.incidents.routing import level_above
from cityops.streams.incidents.sla import deadlines

Outcome = tuple[Incident | None, list[Transition], list[Emitted]]


def change(
    incident: Incident,
    event_key: str,
    now: datetime,
    apply: Callable[[Incident, list[Emitted]], list[Transition]],
) -> Outcome:
    """Runs `apply` on a copy (the input is never mutated) and stamps version and the applied
    event's key (model.event_key: sender and id)."""
    inc = copy_incident(incident)
    out: list[Emitted] = []
    transitions = apply(inc, out)
    inc.version += 1
    inc.updated_at = now
    if event_key:
        inc.applied = (inc.applied + [event_key])[-MAX_APPLIED_IDS:]
    return inc, transitions, out


def copy_incident(inc: Incident) -> Incident:
    return msgspec.structs.replace(
        inc,
        tasks=[msgspec.structs.replace(t) for t in inc.tasks],
        fired=list(inc.fired),
        repeat_ids=list(inc.repeat_ids),
        applied=list(inc.applied),
        callback_task=(
            msgspec.structs.replace(inc.callback_task) if inc.callback_task is not None else None
        ),
    )


def move(
    inc: Incident,
    kind: str,
    to_status: str,
    at: datetime,
    event_id: str = "",
    department: str = "",
    actor: str = "",
    reason: str = "",
) -> Transition:
    from_status = inc.status
    inc.status = to_status
    inc.seq += 1
    return Transition(
        inc.id,
        inc.seq,
        at,
        kind,
        from_status,
        to_status,
        inc.level,
        inc.unit_code,
        department,
        actor,
        reason,
        event_id,
    )


def escalate(
    inc: Incident, now: datetime, eid: str, dept: str, actor: str, reason: str, out: list[Emitted]
) -> Transition:
    level = level_above(inc.level)
    while level and not inc.chain.code(level):
        level = level_above(level)
    inc.level = level or "city"
    inc.unit_code = inc.chain.code(inc.level)
    inc.escalations += 1
    lead = inc.task(inc.lead_department)
    if lead is not None:
        out.append(notice(inc, lead, "escalated", now, reason))
    return move(inc, "escalated", inc.status, now, eid, dept, actor, reason)


def reopen(
    inc: Incident,
    now: datetime,
    policy: Policy,
    eid: str,
    reason: str,
    out: list[Emitted],
    dept: str = "",
    actor: str = "",
) -> Transition:
    inc.reopened += 1
    inc.resolved_at = inc.closed_at = inc.close_due = None
    # A new round: new deadlines under today's policy; the lead must accept again.
    inc.accept_due, inc.resolve_due = deadlines(now, inc.category, inc.kind, inc.severity, policy)
    lead = inc.task(inc.lead_department)
    if lead is not None:
        lead.status, lead.accepted_at, lead.done_at = "assigned", None, None
        out.append(notice(inc, lead, "reopened", now, reason))
    return move(inc, "reopened", "reopened", now, eid, dept, actor, reason)


def notice(inc: Incident, task: DeptTask, kind: str, now: datetime, reason: str = "") -> TaskNotice:
    return TaskNotice(task.department, kind, inc.id, task.role, inc.seq, now, reason)
