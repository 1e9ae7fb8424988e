"""ClickHouse rows of the engine's facts (CONTRACT §5), one builder per table; the writer inserts
them by column name (storage/writer.py). Kafka messages of the same facts: streams/incidents/out.py.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import msgspec

from streams.incidents.model import ActionIn, Incident, RejectIn, ReportIn, Transition

_state = msgspec.json.Encoder()
_state_decoder = msgspec.json.Decoder(Incident)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_state(incident: Incident) -> bytes:
    return _state.encode(incident)


def decode_state(state: bytes | str) -> Incident:
    return _state_decoder.decode(state)


def event_row(item: ReportIn | ActionIn, incident_id: str) -> dict:
    if isinstance(item, ReportIn):
        report, chain = item.report, item.chain
        return {
            "id": item.id,
            "type": "city.report.v1",
            "source": f"/departments/{item.department}",
            "department": item.department,
            "time": item.time or item.at,
            "received_at": item.received_at,
            "district": chain.district,
            "street": chain.street,
            "community": chain.community,
            "grid": chain.grid,
            "micro_grid": chain.micro_grid,
            "category": report.category,
            "severity": report.severity,
            "channel": report.channel,
            "title": report.title,
            "incident_id": incident_id,
            "payload": item.raw.decode("utf-8", "replace"),
        }
    district = street = ""
    return {
        "id": item.id,
        "type": f"city.incident.{item.verb}.v1",
        "source": f"/departments/{item.department}",
        "department": item.action.department,
        "time": item.time or item.at,
        "received_at": item.received_at,
        "district": district,
        "street": street,
        "community": "",
        "grid": "",
        "micro_grid": "",
        "category": "",
        "severity": 0,
        "channel": "",
        "title": "",
        "incident_id": incident_id,
        "payload": item.raw.decode("utf-8", "replace"),
    }


def action_event_row(item: ActionIn, incident: Incident) -> dict:
    row = event_row(item, incident.id)
    chain = incident.chain
    row.update(
        district=chain.district,
        street=chain.street,
        community=chain.community,
        grid=chain.grid,
        micro_grid=chain.micro_grid,
        category=incident.category,
        severity=incident.severity,
    )
    return row


def incident_row(incident: Incident) -> dict:
    chain = incident.chain
    return {
        "incident_id": incident.id,
        "status": incident.status,
        "level": incident.level,
        "unit_code": incident.unit_code,
        "owner_unit": incident.owner_unit,
        "district": chain.district,
        "street": chain.street,
        "community": chain.community,
        "grid": chain.grid,
        "micro_grid": chain.micro_grid,
        "category": incident.category,
        "severity": incident.severity,
        "title": incident.title,
        "lead_department": incident.lead_department,
        "departments": incident.departments,
        "joint": int(len(incident.tasks) > 1),
        "reported_at": incident.reported_at,
        "accepted_at": incident.accepted_at,
        "resolved_at": incident.resolved_at,
        "closed_at": incident.closed_at,
        "accept_due": incident.accept_due,
        "resolve_due": incident.resolve_due,
        "escalations": incident.escalations,
        "breaches": incident.breaches,
        "repeat_count": incident.repeat_count,
        "reopened": incident.reopened,
        "satisfied": None if incident.satisfied is None else int(incident.satisfied),
        "lat": incident.lat if incident.lat is not None else 0.0,
        "lon": incident.lon if incident.lon is not None else 0.0,
        "version": incident.version,
        "updated_at": incident.updated_at or incident.reported_at,
        "state": encode_state(incident).decode(),
    }


def transition_row(t: Transition) -> dict:
    return {
        "incident_id": t.incident_id,
        "seq": t.seq,
        "at": t.at,
        "kind": t.kind,
        "from_status": t.from_status,
        "to_status": t.to_status,
        "level": t.level,
        "unit_code": t.unit_code,
        "department": t.department,
        "actor": t.actor,
        "reason": t.reason,
        "event_id": t.event_id,
    }


def task_rows(incident: Incident) -> list[dict]:
    return [
        {
            "incident_id": incident.id,
            "department": task.department,
            "role": task.role,
            "status": task.status,
            "assigned_at": task.assigned_at,
            "accepted_at": task.accepted_at,
            "done_at": task.done_at,
            "version": incident.version,
            "updated_at": incident.updated_at or task.assigned_at,
        }
        for task in incident.tasks
    ]


def rejected_row(item: RejectIn) -> dict:
    return {
        "reject_id": item.reject_id,
        "received_at": item.received_at,
        "reason": item.reason,
        "path": item.path,
        "event_id": item.event_id,
        "source": item.source,
        "type": item.type,
        "raw": item.raw.decode("utf-8", "replace"),
    }


def misfit_reject(item: ActionIn | ReportIn, reason: str) -> RejectIn:
    """A lifecycle event refused by the engine, stored like the validator's rejects."""
    verb = item.verb if isinstance(item, ActionIn) else "report"
    event_type = "city.report.v1" if verb == "report" else f"city.incident.{verb}.v1"
    return RejectIn(
        reject_id=reject_id_for(f"event:{item.id}"),
        received_at=item.received_at,
        reason=reason,
        path="data.incident_id" if verb != "report" else "data",
        raw=item.raw,
        event_id=item.id,
        source=f"/departments/{item.department}",
        type=event_type,
    )


def reject_id_for(identity: str) -> str:
    """Deterministic, so a redelivered reject collapses into one row (uniqExact(reject_id))."""
    return hashlib.blake2b(identity.encode(), digest_size=10).hexdigest()
