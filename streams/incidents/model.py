"""The incident engine's plain data: an incident with its chain, tasks and timers; the engine's
inputs (validated reports and actions, clock ticks) and outputs (transitions, task notices,
rejections). msgspec Structs, so changelogs and the `incidents.state` column encode them fast.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from cityops.schemas.event_types import Action, Report

# Statuses (CONTRACT §5) and the unit levels an incident moves through, bottom up.
# callback_overdue: resolved, and the citizen's callback (回访) was not answered by its deadline.
STATUSES = ("reported", "dispatched", "accepted", "in_progress", "resolved", "closed", "reopened",
            "callback_overdue")  # fmt: skip
OPEN_STATUSES = frozenset({"reported", "dispatched", "accepted", "in_progress", "reopened"})
ESCALATION_CHAIN = ("micro_grid", "grid", "community", "street", "district", "city")
CITY_CODE = "320100"
MAX_APPLIED_IDS = 64  # event ids remembered per incident for idempotency (bounded)
MAX_REPEAT_IDS = 50


class Chain(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """The location chain of a matter; codes nest by prefix (CONTRACT §2)."""

    district: str
    street: str = ""
    community: str = ""
    grid: str = ""
    micro_grid: str = ""

    def code(self, level: str) -> str:
        if level == "city":
            return CITY_CODE
        return getattr(self, level, "")

    @property
    def key(self) -> str:
        """The partition key: the street code, the district code when no street is known."""
        return self.street or self.district


class DeptTask(msgspec.Struct, omit_defaults=True, gc=False):
    department: str
    role: str  # lead | assist | callback
    status: str  # assigned | accepted | done | released | returned | overdue
    assigned_at: datetime
    accepted_at: datetime | None = None
    done_at: datetime | None = None


class Incident(msgspec.Struct, omit_defaults=True, gc=False):
    id: str
    status: str
    level: str
    unit_code: str
    owner_unit: str  # 首问负责制: the first unit that received the matter owns it until closed
    chain: Chain
    category: str
    kind: str  # the SLA clock: a taxonomy kind (emergency_life, complaint, …)
    severity: int
    title: str
    lead_department: str
    tasks: list[DeptTask]
    reported_at: datetime
    accept_due: datetime
    resolve_due: datetime
    opened_by: str  # the id of the report that opened it
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    close_due: datetime | None = None
    fired: list[str] = []  # deadlines whose escalation rule fired: "accept@<iso>", "resolve@<iso>"
    escalations: int = 0
    breaches: int = 0
    repeat_count: int = 0
    repeat_ids: list[str] = []
    reopened: int = 0
    satisfied: bool | None = None
    city_informed: bool = False
    seq: int = 0  # the last transition's number
    version: int = 0  # bumped on every change (ReplacingMergeTree version)
    applied: list[str] = []  # event_key()s of the last events applied (idempotency)
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    sensor_id: str | None = None
    updated_at: datetime | None = None
    opened_by_department: str = ""  # its sender ("": stored before senders were remembered)
    channel: str = ""  # the opening report's channel
    # 回访 (CONTRACT §11): the callback task (not in `tasks`: it is no handling department) and
    # its state: "" none | pending | overdue | solved | unsolved (the last answer)
    callback_task: DeptTask | None = None
    callback: str = ""
    callback_due: datetime | None = None
    unsolved: int = 0  # callbacks answered "not solved" (each one reopened the incident)
    # 退单/改派: returns counted; a pending return (who returned, why, since when)
    returns: int = 0
    returned_by: str = ""
    return_reason: str = ""
    disputed_since: datetime | None = None
    sla_paused: bool = False  # accept/resolve deadlines stand still while the return waits
    supervision: str = ""  # '' | community | street | district (书记办工单; filled elsewhere)
    sensor_peak: float | None = None  # an early-warning incident: the worst reading told so far
    rule: str = ""  # the sensor rule that raised it ([[rule]] name, CONTRACT §13), if one did
    # 并单 (merge, streams/incidents/merge.py): the incident this one was merged into; the ones
    # merged into this one; the opening (department, channel) of each report merged in, so that
    # its reporter keeps a callback (loop.callback_for)
    merged_into: str = ""
    merged_from: list[str] = []
    merged_callers: list[tuple[str, str]] = []

    @property
    def departments(self) -> list[str]:
        return [t.department for t in self.tasks]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def task(self, department: str) -> DeptTask | None:
        for task in self.tasks:
            if task.department == department:
                return task
        return None


def event_key(department: str, event_id: str) -> str:
    """What the engine remembers an event by: its sender and its id. Ids are unique per source
    only, so a department that reuses (or guesses) another's id never shadows that one's event.
    Department codes have no "/", so the key is unambiguous."""
    return f"{department}/{event_id}"


def was_applied(incident: Incident, department: str, event_id: str) -> bool:
    """Whether the event (sender, id) already took effect on the incident (a redelivery).

    Incidents stored before events were keyed by sender remember bare ids (and no opening
    sender); an id without "/" is looked up bare too, so their redeliveries still apply once. A
    bare id can equal only such old entries (every keyed entry holds a "/").
    """
    if event_key(department, event_id) in incident.applied:
        return True
    if incident.opened_by == event_id and incident.opened_by_department in (department, ""):
        return True
    return "/" not in event_id and event_id in incident.applied


# -- inputs -------------------------------------------------------------------------------------
class ReportIn(msgspec.Struct, tag_field="item", tag="report", omit_defaults=True):
    """A validated city.report.v1 with its enriched chain; `at` is its time on the engine clock."""

    id: str
    department: str
    at: datetime
    report: Report
    chain: Chain
    received_at: datetime
    raw: bytes = b""
    time: datetime | None = None  # the event's own time as published
    # Its partition key when not `chain.key`: the district of a district-scope repeat rule
    # (repeat.scope_key), decided once by the bridge that routed it.
    scope: str = ""

    @property
    def scope_key(self) -> str:
        return self.scope or self.chain.key


class ActionIn(msgspec.Struct, tag_field="item", tag="action", omit_defaults=True):
    """A validated city.incident.<verb>.v1 (verb: accept, progress, resolve, escalate, assist,
    feedback, note, return, reassign, merge). `department` is the sender (from `source`);
    `action.department` is the name the action claims to act in, which authz.authorize holds
    to the sender."""

    id: str
    verb: str
    department: str
    at: datetime
    action: Action
    received_at: datetime
    raw: bytes = b""
    time: datetime | None = None
    key: str = ""


class Tick(msgspec.Struct, tag_field="item", tag="tick"):
    """The engine clock for one partition (SLA timers run on it)."""

    now: datetime


class RejectIn(msgspec.Struct, tag_field="item", tag="reject", omit_defaults=True):
    """An event the validator refused, carried so the engine stores it with the rest."""

    reject_id: str
    received_at: datetime
    reason: str
    path: str
    raw: bytes
    event_id: str = ""
    source: str = ""
    type: str = ""


Item = ReportIn | ActionIn | Tick | RejectIn


class Bundle(msgspec.Struct):
    """One message of the internal bundles topic: many items of one partition, in order."""

    items: list[Item]


# -- outputs ------------------------------------------------------------------------------------
class Transition(msgspec.Struct, omit_defaults=True, gc=False):
    incident_id: str
    seq: int
    at: datetime
    kind: str  # opened, dispatched, accepted, sla_breached, escalated, repeat_linked, …
    from_status: str
    to_status: str
    level: str
    unit_code: str
    department: str = ""
    actor: str = ""
    reason: str = ""
    event_id: str = ""


class TaskNotice(msgspec.Struct, omit_defaults=True, gc=False):
    """A message to one department's work queue (city.tasks.<dept>)."""

    department: str
    kind: str  # assigned, urge, released, reopened, escalated, closed, callback, return_review
    incident_id: str
    role: str
    seq: int
    at: datetime
    reason: str = ""


class Rejection(msgspec.Struct):
    """A lifecycle event that does not fit the incident: stored and published as rejected."""

    event_id: str
    reason: str
    path: str = "data.incident_id"  # the field the refusal is about


Emitted = TaskNotice | Rejection
