"""The incident lifecycle as one pure function: `step(incident, item, now, policy)` returns the new
incident, its transitions (one row of the timeline each) and what to tell departments. Refused moves
come back as a Rejection with the reason; they never change the incident.

    reported → dispatched → accepted → in_progress → resolved → closed
                  ▲ reopened ◀── (feedback: not satisfied | a repeat report) ──┘
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache

import msgspec

from cityops.schemas.taxonomy import CATEGORIES, FEED_SILENT
from cityops.streams.incidents import loop
from cityops.streams.incidents.alarms import follow_up, follow_up_of
from cityops.streams.incidents.authz import authorize
from cityops.streams.incidents.model import (
    MAX_REPEAT_IDS,
    ActionIn,
    Chain,
    DeptTask,
    Emitted,
    Incident,
    Item,
    Rejection,
    ReportIn,
    Tick,
    Transition,
    event_key,
    was_applied,
)
from cityops.streams.incidents.moves import Outcome, change, escalate, move, notice, reopen
from cityops.streams.incidents.policy import Policy
from cityops.streams.incidents.routing import level_above, route
from cityops.streams.incidents.sla import deadlines, due_after, due_escalations, fired_key
from cityops.streams.incidents.supervise import supervise


@lru_cache(maxsize=64)  # asked twice per report: the engine's redelivery check, then `_open`
def incident_id_for(department: str, report_id: str, chain: Chain, scope: str = "") -> str:
    """Deterministic: the opening report's sender and id decide it (two departments' reports
    with the same id open two incidents); the street (or district) code in front lets anyone
    route an action for it to the right partition. `scope`: the report's partition key when not
    its street (`ReportIn.scope`, a district-scope repeat rule)."""
    key = event_key(department, report_id)
    digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    return f"{scope or chain.key}-{digest}"


def partition_key_of(incident_id: str) -> str:
    """The street (or district) code an incident id starts with ("" when it has none)."""
    head, sep, _ = incident_id.partition("-")
    return head if sep and head.isdigit() else ""


def step(incident: Incident | None, item: Item, now: datetime, policy: Policy) -> Outcome:
    if isinstance(item, Tick):
        return _tick(incident, now) if incident is not None else (None, [], [])
    if isinstance(item, ReportIn):
        if follow_up_of(item.report):
            return follow_up(incident, item, now, policy)  # a rule's peak or clear
        if incident is None:
            return _open(item, now, policy)
        if was_applied(incident, item.department, item.id):
            return incident, [], []  # a redelivery: one effect only
        key = event_key(item.department, item.id)
        return change(incident, key, now, lambda inc, out: _link(inc, item, now, policy, out))
    if isinstance(item, ActionIn):
        if incident is None:
            reason = f"unknown incident {item.action.incident_id!r}"
            return None, [], [Rejection(item.id, reason)]
        if was_applied(incident, item.department, item.id):
            return incident, [], []
        refusal = authorize(item, incident, policy)
        if refusal:
            return incident, [], [Rejection(item.id, refusal, "data.department")]
        refusal = refusal_of(incident, item, now, policy)
        if refusal:
            return incident, [], [Rejection(item.id, refusal)]
        key = event_key(item.department, item.id)
        return change(incident, key, now, lambda inc, out: _act(inc, item, now, policy, out))
    return incident, [], []


# -- opening and linking ------------------------------------------------------------------------
def _open(item: ReportIn, now: datetime, policy: Policy) -> Outcome:
    report, chain = item.report, item.chain
    category = CATEGORIES[report.category]
    dispatch = route(report, chain, policy)
    if report.category == FEED_SILENT:
        # A silent feed is its own department's to fix (docs/early-warning.md).
        dispatch = msgspec.structs.replace(
            dispatch, lead_department=item.department, assist_departments=(), desk=False
        )
    accept_due, resolve_due = deadlines(
        now, report.category, category.kind, report.severity, policy
    )
    tasks = [DeptTask(dispatch.lead_department, "lead", "assigned", now)]
    tasks += [DeptTask(d, "assist", "assigned", now) for d in dispatch.assist_departments]
    # The required fields positionally, in field order, the others set after: msgspec matches
    # keyword arguments by name one at a time (1.4 µs of the 1.8 it took to build one).
    incident = Incident(
        incident_id_for(item.department, item.id, chain, item.scope),
        "reported",  # status
        dispatch.level,
        dispatch.unit_code,
        dispatch.unit_code,  # owner_unit
        chain,
        report.category,
        category.kind,
        report.severity,
        report.title,
        dispatch.lead_department,
        tasks,
        now,  # reported_at
        accept_due,
        resolve_due,
        item.id,  # opened_by
    )
    location = report.location
    incident.lat, incident.lon, incident.address = location.lat, location.lon, location.address
    incident.sensor_id = report.sensor.sensor_id if report.sensor else None
    if report.sensor is not None and report.sensor.alarm:
        incident.sensor_peak = report.sensor.value
        incident.rule = report.sensor.rule or ""
    incident.city_informed = dispatch.city_informed
    incident.opened_by_department = item.department
    incident.channel = report.channel
    incident.applied = [event_key(item.department, item.id)]
    incident.version = 1
    incident.updated_at = now
    incident.status = ""
    out: list[Emitted] = []
    transitions = [move(incident, "opened", "reported", now, item.id, item.department)]
    where = "dispatch desk" if dispatch.desk else f"{dispatch.level} {dispatch.unit_code}"
    transitions.append(
        move(
            incident,
            "dispatched",
            "dispatched",
            now,
            item.id,
            dispatch.lead_department,
            reason=f"to {where}",
        )
    )
    if dispatch.city_informed:
        transitions.append(
            move(
                incident,
                "city_informed",
                "dispatched",
                now,
                item.id,
                reason=f"severity {report.severity}",
            )
        )
    for task in tasks:
        out.append(notice(incident, task, "assigned", now))
    return incident, transitions, out


def _link(
    inc: Incident, item: ReportIn, now: datetime, policy: Policy, out: list[Emitted]
) -> list[Transition]:
    inc.repeat_count += 1
    inc.repeat_ids = (inc.repeat_ids + [item.id])[-MAX_REPEAT_IDS:]
    why = f"report {item.id}"
    transitions = [move(inc, "repeat_linked", inc.status, now, item.id, item.department, "", why)]
    sensor = item.report.sensor
    if sensor is not None and sensor.alarm == "raised":
        # A rule's new episode: the peak starts again from it when the incident reopens.
        reopening = (
            inc.status in ("resolved", "closed", "callback_overdue") or inc.sensor_peak is None
        )
        inc.sensor_peak = sensor.value if reopening else inc.sensor_peak
    if inc.status in ("resolved", "closed", "callback_overdue"):
        # Closed but not solved: the matter came back.
        loop.drop_callback(inc, now)
        transitions.append(reopen(inc, now, policy, item.id, "repeat report", out))
    if inc.reopened:  # a matter that came back: 书记督办 by rule (more complainants may raise it)
        supervised = supervise(inc, policy.supervision, now, item.id)
        if supervised is not None:
            transitions.append(supervised)
    return transitions


# -- actions ------------------------------------------------------------------------------------
def refusal_of(inc: Incident, item: ActionIn, now: datetime, policy: Policy) -> str | None:
    """Why this action does not fit the incident now (None: it fits)."""
    verb, dept = item.verb, item.action.department
    status = inc.status
    if verb == "feedback":
        return loop.feedback_refusal(inc)
    if verb == "reassign":
        return loop.reassign_refusal(inc, item.action.to_department or "")
    if verb == "return":
        return loop.return_refusal(inc, policy, now)
    task = inc.task(dept)
    if task is None or (task.status == "released" and verb != "note"):
        return f"department {dept} is not on incident {inc.id}"
    if verb == "note":
        return None
    if task.status == "returned":
        return f"{verb} while the return of the task waits for the dispatch desk's decision"
    if status == "closed":
        return f"{verb} on a closed incident"
    if status == "resolved":
        return f"{verb} on a resolved incident"
    lead = task.role == "lead"
    if verb == "accept":
        if lead and status in ("accepted", "in_progress"):
            return "already accepted"
        if not lead and task.status != "assigned":
            return f"assisting task of {dept} is already {task.status}"
        return None
    if verb in ("progress", "resolve"):
        if lead and status not in ("accepted", "in_progress"):
            return f"{verb} before accept"
        if lead and task.status == "done":
            if verb == "resolve" and item.action.departments:
                return _release_refusal(inc, item.action.departments)
            return f"{verb} after the lead resolved (waiting for assisting departments)"
        if lead and verb == "resolve":
            return _release_refusal(inc, item.action.departments or [])
        if not lead and task.status != "accepted":
            what = (
                "before accept" if task.status == "assigned" else f"on a task already {task.status}"
            )
            return f"{verb} {what}"
        return None
    if verb == "escalate":
        return None if level_above(inc.level) else "already at city level"
    if verb == "assist":
        wanted = item.action.departments or []
        new = [d for d in wanted if (t := inc.task(d)) is None or t.status == "released"]
        return None if new else "departments already on the incident: " + ", ".join(wanted)
    return f"unknown action {verb}"


def _release_refusal(inc: Incident, departments: list[str]) -> str | None:
    for dept in departments:
        task = inc.task(dept)
        if task is None or task.role != "assist":
            return f"cannot release {dept}: not an assisting department of {inc.id}"
    return None


def _act(
    inc: Incident, item: ActionIn, now: datetime, policy: Policy, out: list[Emitted]
) -> list[Transition]:
    verb, action = item.verb, item.action
    dept, actor, eid = action.department, action.actor or "", item.id
    comment = action.comment or ""
    if verb == "feedback":
        return loop.feedback(inc, item, now, policy, out)
    if verb == "return":
        return loop.return_task(inc, item, now, policy, out)
    if verb == "reassign":
        return loop.reassign(inc, item, now, policy, out)
    if verb == "note":
        return [move(inc, "note", inc.status, now, eid, dept, actor, comment)]
    if verb == "escalate":
        return [escalate(inc, now, eid, dept, actor, comment or "requested", out)]
    if verb == "assist":
        return [_add_assists(inc, action.departments or [], now, eid, dept, actor, out)]
    task = inc.task(dept)
    assert task is not None  # refusal_of checked it
    lead = task.role == "lead"
    if verb == "accept":
        task.status, task.accepted_at = "accepted", now
        if not lead:
            return [move(inc, "task_accepted", inc.status, now, eid, dept, actor, comment)]
        inc.accepted_at = inc.accepted_at or now
        return [move(inc, "accepted", "accepted", now, eid, dept, actor, comment)]
    if verb == "progress":
        if not lead:
            return [move(inc, "task_progress", inc.status, now, eid, dept, actor, comment)]
        return [move(inc, "progress", "in_progress", now, eid, dept, actor, comment)]
    # resolve
    transitions = []
    if lead:
        for released in action.departments or []:
            other = inc.task(released)
            if other is not None and other.status in ("assigned", "accepted"):
                other.status, other.done_at = "released", now
                out.append(notice(inc, other, "released", now))
                transitions.append(
                    move(
                        inc,
                        "task_released",
                        inc.status,
                        now,
                        eid,
                        dept,
                        actor,
                        f"released {released}",
                    )
                )
    if task.status != "done":
        task.status, task.done_at = "done", now
        kind = "lead_resolved" if lead else "task_done"
        transitions.append(move(inc, kind, inc.status, now, eid, dept, actor, comment))
    if _all_done(inc):
        inc.resolved_at = now
        inc.close_due = due_after(now, policy.close_after_resolved)
        transitions.append(
            move(
                inc,
                "resolved",
                "resolved",
                now,
                eid,
                dept,
                actor,
                "lead resolved, assisting tasks done or released",
            )
        )
        loop.open_callback(inc, now, policy, out)
    return transitions


def _all_done(inc: Incident) -> bool:
    return all(t.status in ("done", "released") for t in inc.tasks)


def _add_assists(
    inc: Incident,
    departments: list[str],
    now: datetime,
    eid: str,
    dept: str,
    actor: str,
    out: list[Emitted],
) -> Transition:
    added = []
    for code in dict.fromkeys(departments):
        task = inc.task(code)
        if task is None:
            task = DeptTask(code, "assist", "assigned", now)
            inc.tasks.append(task)
        elif task.status == "released":
            task.status, task.assigned_at, task.accepted_at, task.done_at = (
                "assigned",
                now,
                None,
                None,
            )
        else:
            continue
        added.append(code)
        out.append(notice(inc, task, "assigned", now))
    return move(
        inc,
        "assist_requested",
        inc.status,
        now,
        eid,
        dept,
        actor,
        "joint handling with " + ", ".join(added),
    )


# -- timers -------------------------------------------------------------------------------------
def _tick(incident: Incident, now: datetime) -> Outcome:
    due = due_escalations(incident, now)
    if not due:
        return incident, [], []

    def fire(inc: Incident, out: list[Emitted]) -> list[Transition]:
        transitions = []
        for name, when in due:
            inc.fired = inc.fired + [fired_key(name, when)]
            if name == "callback":
                transitions.append(loop.callback_overdue(inc, now, out))
                continue
            if name == "close":
                inc.closed_at = now
                transitions.append(
                    move(inc, "auto_closed", "closed", now, reason="no feedback after resolution")
                )
                continue
            inc.breaches += 1
            reason = f"{name} deadline {when.isoformat()} missed"
            transitions.append(move(inc, "sla_breached", inc.status, now, reason=reason))
            lead = inc.task(inc.lead_department)
            if lead is not None:
                out.append(notice(inc, lead, "urge", now, reason))  # 催办
            if level_above(inc.level):
                transitions.append(escalate(inc, now, "", "", "", reason, out))
        return transitions

    return change(incident, "", now, fire)


# -- shared moves -------------------------------------------------------------------------------
