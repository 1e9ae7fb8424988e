"""Kafka messages of the engine's decisions, as CloudEvents (structured JSON): one
`city.incident.changed.v1` per incident change on city.incidents (its transitions inside), one
`city.task.v1` per notice on city.tasks.<dept>, and refused events on city.events.rejected.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from cityops.streams.incidents.model import Incident, RejectIn, TaskNotice, Transition

SOURCE = "/platform/cityops"
CHANGED_TYPE = "city.incident.changed.v1"
TASK_TYPE = "city.task.v1"
_encode = msgspec.json.encode


# The messages' shapes as Structs: fields encode in declaration order (the messages' key order,
# every field present). Built positionally, in field order: msgspec matches keyword arguments by
# name one at a time, which cost as much as the dicts these replace (a unit test checks the bytes).
class _ChangedData(msgspec.Struct):
    incident_id: str
    kinds: list[str]
    transitions: list[Transition]
    status: str
    level: str
    unit_code: str
    owner_unit: str
    district: str
    street: str
    category: str
    severity: int
    title: str
    lead_department: str
    departments: list[str]
    accept_due: datetime
    resolve_due: datetime
    escalations: int
    breaches: int
    repeat_count: int
    reopened: int
    version: int
    rule: str  # the sensor rule that raised the incident ('' when none did)
    supervision: str  # 书记督办 level ('' none | community | street | district, CONTRACT §11)
    merged_into: str  # 并单: the incident this one was merged into ('' when none)


class _CloudEvent(msgspec.Struct):
    """The envelope's leading attributes (a subclass's fields follow them)."""

    specversion: str
    id: str
    source: str
    type: str
    time: datetime
    subject: str


class _Changed(_CloudEvent):
    partitionkey: str
    datacontenttype: str
    data: _ChangedData


class _TaskData(msgspec.Struct):
    kind: str
    incident_id: str
    department: str
    role: str
    task_status: str
    reason: str
    title: str
    category: str
    severity: int
    status: str
    level: str
    unit_code: str
    district: str
    street: str
    community: str
    grid: str
    micro_grid: str
    accept_due: datetime
    resolve_due: datetime


class _Task(_CloudEvent):
    datacontenttype: str
    data: _TaskData


def incident_changed(incident: Incident, transitions: list[Transition]) -> bytes:
    """The change of one step; id is `<incident_id>:<last seq>` so a consumer can deduplicate."""
    last = transitions[-1]
    chain = incident.chain
    data = _ChangedData(
        incident.id,
        [t.kind for t in transitions],
        transitions,
        incident.status,
        incident.level,
        incident.unit_code,
        incident.owner_unit,
        chain.district,
        chain.street,
        incident.category,
        incident.severity,
        incident.title,
        incident.lead_department,
        incident.departments,
        incident.accept_due,
        incident.resolve_due,
        incident.escalations,
        incident.breaches,
        incident.repeat_count,
        incident.reopened,
        incident.version,
        incident.rule,
        incident.supervision,
        incident.merged_into,
    )
    return _encode(
        _Changed(
            "1.0",
            f"{incident.id}:{last.seq}",
            SOURCE,
            CHANGED_TYPE,
            last.at,
            incident.id,  # subject
            chain.key,  # partitionkey
            "application/json",
            data,
        )
    )


def task_message(incident: Incident, notice: TaskNotice) -> bytes:
    task = incident.task(notice.department)
    chain = incident.chain
    data = _TaskData(
        notice.kind,
        incident.id,
        notice.department,
        notice.role,
        task.status if task else "",  # task_status
        notice.reason,
        incident.title,
        incident.category,
        incident.severity,
        incident.status,
        incident.level,
        incident.unit_code,
        chain.district,
        chain.street,
        chain.community,
        chain.grid,
        chain.micro_grid,
        incident.accept_due,
        incident.resolve_due,
    )
    return _encode(
        _Task(
            "1.0",
            f"{incident.id}:{notice.seq}:{notice.department}:{notice.kind}",
            SOURCE,
            TASK_TYPE,
            notice.at,
            incident.id,  # subject
            "application/json",
            data,
        )
    )


def rejected_headers(item: RejectIn, at: datetime) -> list[tuple[str, bytes]]:
    """city.events.rejected keeps the original bytes as the value; why and when ride in headers."""
    return [
        ("cityops_reason", item.reason.encode()),
        ("cityops_path", item.path.encode()),
        ("cityops_rejected_at", _encode(at)[1:-1]),
        ("cityops_event_id", item.event_id.encode()),
        ("cityops_reject_id", item.reject_id.encode()),
    ]
