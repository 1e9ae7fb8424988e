"""Closing the loop (CONTRACT §11), pure like the rest of the lifecycle (logic.py calls these):

- 回访 (callback): a resolved incident gets a callback task for the citizen-facing department
  (`callback_for`); the citizen's answer (`feedback`) closes it when solved, or reopens it with
  the same lead (首问负责) when not; no answer by the deadline (`callback_overdue`) puts it in
  status "callback_overdue", never a silent close.
- 退单/改派 (return, reassign): the lead returns a task that is not its own, with a reason, within
  the policy's window after it was assigned; the district's dispatch desk upholds the lead or
  gives the lead to another department. The SLA clock stops while a return waits, or runs on,
  as the policy says.
"""

from __future__ import annotations

from datetime import datetime

from cityops.schemas.taxonomy import DEPARTMENTS, dispatch_desk
from cityops.streams.incidents.model import (
    OPEN_STATUSES,
    ActionIn,
    DeptTask,
    Emitted,
    Incident,
    TaskNotice,
    Transition,
)
from cityops.streams.incidents.moves import move, notice, reopen
from cityops.streams.incidents.policy import Policy
from cityops.streams.incidents.sla import due_after
from cityops.streams.incidents.supervise import supervise

ANSWERABLE = ("resolved", "callback_overdue")  # statuses a callback answer applies to


# -- 回访 ---------------------------------------------------------------------------------
def callback_for(inc: Incident, policy: Policy) -> str | None:
    """The department that calls the citizen back, None when no citizen waits for one: the
    citizen-facing department that opened the report, else the first citizen-facing department
    for a report of a callback channel (a hotline call, an app request) — the opening report
    first, then each report merged in (并单: its reporter keeps a callback)."""
    for department, channel in [(inc.opened_by_department, inc.channel), *inc.merged_callers]:
        if department in policy.citizen_facing:
            return department
        if channel in policy.callback_channels and policy.citizen_facing:
            return policy.citizen_facing[0]
    return None


def open_callback(inc: Incident, now: datetime, policy: Policy, out: list[Emitted]) -> None:
    """At resolution: the callback task and its deadline (which replaces the auto-close)."""
    department = callback_for(inc, policy)
    if department is None:
        return
    inc.callback_task = DeptTask(department, "callback", "assigned", now)
    inc.callback, inc.callback_due, inc.close_due = (
        "pending",
        due_after(now, policy.callback_within),
        None,
    )
    out.append(
        TaskNotice(department, "callback", inc.id, "callback", inc.seq, now, "回访 callback due")
    )


def feedback_refusal(inc: Incident) -> str | None:
    if inc.status in ANSWERABLE:
        return None
    return f"feedback needs a resolved incident, it is {inc.status}"


def feedback(
    inc: Incident, item: ActionIn, now: datetime, policy: Policy, out: list[Emitted]
) -> list[Transition]:
    """The citizen's answer: `resolved` decides (an answer without it: `satisfied` does)."""
    action = item.action
    dept, actor, eid = action.department, action.actor or "", item.id
    inc.satisfied = bool(action.satisfied)
    solved = action.resolved if action.resolved is not None else bool(action.satisfied)
    task = inc.callback_task
    if task is not None and task.status in ("assigned", "overdue"):
        task.status, task.done_at = "done", now
    inc.callback_due = None
    if solved:
        inc.callback = "solved"
        inc.closed_at = now
        for each in inc.tasks:
            out.append(notice(inc, each, "closed", now))
        why = "citizen: solved, satisfied" if action.satisfied else "citizen: solved, not satisfied"
        if action.resolved is None:
            why = "citizen satisfied"
        return [move(inc, "closed", "closed", now, eid, dept, actor, why)]
    inc.callback = "unsolved"
    inc.unsolved += 1
    why = "callback: not solved" if action.resolved is not None else "citizen not satisfied"
    transitions = [reopen(inc, now, policy, eid, why, out, dept, actor)]
    supervised = supervise(inc, policy.supervision, now, eid)
    return transitions + [supervised] if supervised else transitions


def callback_overdue(inc: Incident, now: datetime, out: list[Emitted]) -> Transition:
    """No answer by the callback deadline: its own status, and the callback department urged."""
    inc.callback = "overdue"
    reason = f"callback due {inc.callback_due.isoformat() if inc.callback_due else ''} unanswered"
    transition = move(inc, "callback_overdue", "callback_overdue", now, reason=reason)
    task = inc.callback_task
    if task is not None:
        task.status = "overdue"
        out.append(TaskNotice(task.department, "urge", inc.id, "callback", inc.seq, now, reason))
    return transition


def drop_callback(inc: Incident, now: datetime) -> None:
    """A reopening by other means (a repeat report) ends a pending callback."""
    task = inc.callback_task
    if task is not None and task.status in ("assigned", "overdue"):
        task.status, task.done_at = "released", now
    if inc.callback in ("pending", "overdue"):
        inc.callback = ""
    inc.callback_due = None


# -- 退单 / 改派 ----------------------------------------------------------------------------
def return_refusal(inc: Incident, policy: Policy, now: datetime) -> str | None:
    """Why the lead may not return its task now (authz.py checked it is the lead)."""
    if inc.disputed_since is not None:
        return f"a return of {inc.id} already waits for the dispatch desk's decision"
    if inc.status not in OPEN_STATUSES:
        return f"return on a {inc.status} incident"
    task = inc.task(inc.lead_department)
    if task is None or task.status != "assigned":
        return "return after the task was accepted: a task is returned before it is accepted"
    if inc.lead_department == dispatch_desk(inc.chain.district):
        return "the dispatch desk cannot return a task to itself"
    until = due_after(task.assigned_at, policy.return_window)
    if now > until:
        return (
            f"return window passed: returns are accepted until {until.isoformat()} "
            f"({policy.return_window.amount:g}{policy.return_window.unit} after assignment)"
        )
    return None


def return_task(
    inc: Incident, item: ActionIn, now: datetime, policy: Policy, out: list[Emitted]
) -> list[Transition]:
    action = item.action
    dept, reason = action.department, (action.reason or "").strip()
    task = inc.task(dept)
    assert task is not None  # return_refusal checked it
    task.status = "returned"
    inc.returns += 1
    inc.returned_by, inc.return_reason, inc.disputed_since = dept, reason, now
    inc.sla_paused = policy.sla_clock_while_disputed == "paused"
    transition = move(inc, "returned", inc.status, now, item.id, dept, action.actor or "", reason)
    desk = dispatch_desk(inc.chain.district)
    out.append(TaskNotice(desk, "return_review", inc.id, "desk", inc.seq, now, reason))
    return [transition]


def reassign_refusal(inc: Incident, to_department: str) -> str | None:
    if inc.disputed_since is None:
        return f"no return of {inc.id} waits for a decision"
    target = DEPARTMENTS.get(to_department)
    if target is not None and target.district not in (None, inc.chain.district):
        return f"cannot reassign to {to_department}, the desk of another district"
    return None


def reassign(
    inc: Incident, item: ActionIn, now: datetime, policy: Policy, out: list[Emitted]
) -> list[Transition]:
    """The desk's decision: `to_department` = the current lead upholds it, another takes over."""
    action = item.action
    dept, actor, eid = action.department, action.actor or "", item.id
    comment, old, new = action.comment or "", inc.lead_department, action.to_department or ""
    since = inc.disputed_since
    if inc.sla_paused and since is not None and now > since:
        waited = now - since  # the clock stood still while the return waited
        inc.accept_due, inc.resolve_due = inc.accept_due + waited, inc.resolve_due + waited
    inc.returned_by, inc.return_reason, inc.disputed_since, inc.sla_paused = "", "", None, False
    if new == old:
        task = inc.task(old)
        if task is not None:
            task.status = "assigned"
            out.append(notice(inc, task, "assigned", now, f"return not upheld: {comment}"))
        return [move(inc, "return_upheld", inc.status, now, eid, dept, actor, comment)]
    before = inc.task(old)
    if before is not None:
        before.status, before.done_at = "released", now
    task = inc.task(new)
    if task is None:
        task = DeptTask(new, "lead", "assigned", now)
        inc.tasks.append(task)
    else:
        task.role, task.status, task.assigned_at = "lead", "assigned", now
        task.accepted_at = task.done_at = None
    inc.lead_department = new
    transition = move(
        inc, "reassigned", inc.status, now, eid, dept, actor, f"{old} → {new} {comment}".strip()
    )
    if before is not None:
        out.append(notice(inc, before, "released", now, f"reassigned to {new}"))
    out.append(notice(inc, task, "assigned", now, f"reassigned from {old}"))
    return [transition]
