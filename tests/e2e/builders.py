"""Builders of stored rows for dashboard tests: a known data set inserted straight into ClickHouse
with clickhouse-driver (the columns of storage/ddl.py), so a test can say what the wall must
show."""

from __future__ import annotations

import datetime as dt
import json

UTC = dt.UTC


def ts(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), UTC)


def an_event(
    *,
    id,
    time,
    district="320105",
    street="320105001",
    category="road_damage",
    severity=2,
    title="路面破损",
    incident_id="",
    type="city.report.v1",
    department="hotline12345",
    channel="hotline",
    received_at=None,
) -> dict:
    payload = {
        "specversion": "1.0",
        "id": id,
        "type": type,
        "source": f"/departments/{department}",
        "time": ts(time).isoformat(),
        "data": {"title": title, "category": category},
    }
    return {
        "id": id,
        "type": type,
        "source": f"/departments/{department}",
        "department": department,
        "time": ts(time),
        "received_at": ts(received_at if received_at is not None else time),
        "district": district,
        "street": street,
        "community": "",
        "grid": "",
        "micro_grid": "",
        "category": category,
        "severity": severity,
        "channel": channel,
        "title": title,
        "incident_id": incident_id,
        "payload": json.dumps(payload, ensure_ascii=False),
    }


def an_incident(
    *,
    incident_id,
    reported_at,
    version=1,
    status="dispatched",
    district="320105",
    street="320105001",
    level="street",
    category="road_damage",
    severity=2,
    title="路面破损",
    joint=0,
    departments=("urban_mgmt",),
    breaches=0,
    escalations=0,
    repeat_count=0,
    reopened=0,
    satisfied=None,
    updated_at=None,
    lat=32.0,
    lon=118.7,
    resolve_due=None,
    lead_department="urban_mgmt",
) -> dict:
    updated = updated_at if updated_at is not None else reported_at
    return {
        "incident_id": incident_id,
        "status": status,
        "level": level,
        "unit_code": street,
        "owner_unit": street,
        "district": district,
        "street": street,
        "community": "",
        "grid": "",
        "micro_grid": "",
        "category": category,
        "severity": severity,
        "title": title,
        "lead_department": lead_department,
        "departments": list(departments),
        "joint": joint,
        "reported_at": ts(reported_at),
        "accepted_at": None,
        "resolved_at": None,
        "closed_at": None,
        "accept_due": ts(reported_at + 1800),
        "resolve_due": ts(resolve_due if resolve_due is not None else reported_at + 86400),
        "escalations": escalations,
        "breaches": breaches,
        "repeat_count": repeat_count,
        "reopened": reopened,
        "satisfied": satisfied,
        "lat": lat,
        "lon": lon,
        "version": version,
        "updated_at": ts(updated),
        "state": "",
    }


def a_transition(
    *,
    incident_id,
    seq,
    at,
    kind="opened",
    from_status="",
    to_status="reported",
    level="street",
    department="urban_mgmt",
    actor="",
    reason="",
    event_id="",
) -> dict:
    return {
        "incident_id": incident_id,
        "seq": seq,
        "at": ts(at),
        "kind": kind,
        "from_status": from_status,
        "to_status": to_status,
        "level": level,
        "unit_code": "",
        "department": department,
        "actor": actor,
        "reason": reason,
        "event_id": event_id,
    }


def a_task(
    *, incident_id, department, role="lead", status="assigned", assigned_at, version=1
) -> dict:
    return {
        "incident_id": incident_id,
        "department": department,
        "role": role,
        "status": status,
        "assigned_at": ts(assigned_at),
        "accepted_at": None,
        "done_at": None,
        "version": version,
        "updated_at": ts(assigned_at),
    }


def insert(ch, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    ch.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES",
        [[row[c] for c in columns] for row in rows],
    )
