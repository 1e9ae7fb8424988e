"""Kafka messages of the engine's decisions, as CloudEvents (structured JSON): one
`city.incident.changed.v1` per incident change on city.incidents (its transitions inside), one
`city.task.v1` per notice on city.tasks.<dept>, and refused events on city.events.rejected.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from streams.incidents.model import Incident, RejectIn, TaskNotice, Transition

SOURCE = "/platform/cityops"
CHANGED_TYPE = "city.incident.changed.v1"
TASK_TYPE = "city.task.v1"
_encode = msgspec.json.encode


def incident_changed(incident: Incident, transitions: list[Transition]) -> bytes:
    """The change of one step; id is `<incident_id>:<last seq>` so a consumer can deduplicate."""
    last = transitions[-1]
    chain = incident.chain
    return _encode(
        {
            "specversion": "1.0",
            "id": f"{incident.id}:{last.seq}",
            "source": SOURCE,
            "type": CHANGED_TYPE,
            "time": last.at,
            "subject": incident.id,
            "partitionkey": chain.key,
            "datacontenttype": "application/json",
            "data": {
                "incident_id": incident.id,
                "kinds": [t.kind for t in transitions],
                "transitions": transitions,
                "status": incident.status,
                "level": incident.level,
                "unit_code": incident.unit_code,
                "owner_unit": incident.owner_unit,
                "district": chain.district,
                "street": chain.street,
                "category": incident.category,
                "severity": incident.severity,
                "title": incident.title,
                "lead_department": incident.lead_department,
                "departments": incident.departments,
                "accept_due": incident.accept_due,
                "resolve_due": incident.resolve_due,
                "escalations": incident.escalations,
                "breaches": incident.breaches,
                "repeat_count": incident.repeat_count,
                "reopened": incident.reopened,
                "version": incident.version,
            },
        }
    )


def task_message(incident: Incident, notice: TaskNotice) -> bytes:
    task = incident.task(notice.department)
    chain = incident.chain
    return _encode(
        {
            "specversion": "1.0",
            "id": f"{incident.id}:{notice.seq}:{notice.department}:{notice.kind}",
            "source": SOURCE,
            "type": TASK_TYPE,
            "time": notice.at,
            "subject": incident.id,
            "datacontenttype": "application/json",
            "data": {
                "kind": notice.kind,
                "incident_id": incident.id,
                "department": notice.department,
                "role": notice.role,
                "task_status": task.status if task else "",
                "reason": notice.reason,
                "title": incident.title,
                "category": incident.category,
                "severity": incident.severity,
                "status": incident.status,
                "level": incident.level,
                "unit_code": incident.unit_code,
                "district": chain.district,
                "street": chain.street,
                "community": chain.community,
                "grid": chain.grid,
                "micro_grid": chain.micro_grid,
                "accept_due": incident.accept_due,
                "resolve_due": incident.resolve_due,
            },
        }
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
