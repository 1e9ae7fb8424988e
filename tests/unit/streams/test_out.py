"""The engine's Kafka messages: CloudEvents whose data fields come, in a fixed order, from the
incident and the notice (out.py builds them positionally, so every field is checked by name)."""

from __future__ import annotations

import msgspec

from cityops.streams.incidents import out
from cityops.streams.incidents.logic import step
from cityops.streams.incidents.model import TaskNotice
from tests.unit.streams.builders import POLICY, T0, a_report, an_action

CHANGED_DATA = [
    "incident_id",
    "kinds",
    "transitions",
    "status",
    "level",
    "unit_code",
    "owner_unit",
    "district",
    "street",
    "category",
    "severity",
    "title",
    "lead_department",
    "departments",
    "accept_due",
    "resolve_due",
    "escalations",
    "breaches",
    "repeat_count",
    "reopened",
    "version",
    "rule",
    "supervision",
    "merged_into",
]
TASK_DATA = [
    "kind",
    "incident_id",
    "department",
    "role",
    "task_status",
    "reason",
    "title",
    "category",
    "severity",
    "status",
    "level",
    "unit_code",
    "district",
    "street",
    "community",
    "grid",
    "micro_grid",
    "accept_due",
    "resolve_due",
]


def as_json(value):
    return msgspec.json.decode(msgspec.json.encode(value))


def a_joint_incident():
    """An incident with a lead and assisting departments, accepted by its lead."""
    opened, _, _ = step(None, a_report("gas_leak", 3), T0, POLICY)
    return step(opened, an_action("accept", opened), T0, POLICY)


def test_the_change_message_carries_the_incident_summary_in_order():
    incident, transitions, _ = a_joint_incident()
    message = msgspec.json.decode(out.incident_changed(incident, transitions))
    assert list(message) == [
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "subject",
        "partitionkey",
        "datacontenttype",
        "data",
    ]
    assert message["id"] == f"{incident.id}:{transitions[-1].seq}"
    assert message["type"] == "city.incident.changed.v1" and message["subject"] == incident.id
    assert message["partitionkey"] == incident.chain.key
    assert message["time"] == as_json(transitions[-1].at)
    data = message["data"]
    assert list(data) == CHANGED_DATA
    assert data["kinds"] == [t.kind for t in transitions]
    assert data["transitions"] == as_json(transitions)
    assert data["departments"] == incident.departments and len(incident.departments) > 1
    assert (data["district"], data["street"]) == (incident.chain.district, incident.chain.street)
    for name in CHANGED_DATA[3:]:
        if hasattr(incident, name):
            assert data[name] == as_json(getattr(incident, name)), name


def test_a_task_message_carries_the_task_and_the_place():
    incident, _, _ = a_joint_incident()
    lead = incident.tasks[0]
    notice = TaskNotice(lead.department, "urge", incident.id, lead.role, incident.seq, T0, "late")
    message = msgspec.json.decode(out.task_message(incident, notice))
    assert message["id"] == f"{incident.id}:{incident.seq}:{lead.department}:urge"
    assert message["type"] == "city.task.v1" and message["subject"] == incident.id
    assert message["time"] == as_json(T0)
    data = message["data"]
    assert list(data) == TASK_DATA
    assert data["task_status"] == lead.status == "accepted"
    assert (data["kind"], data["role"], data["reason"]) == ("urge", "lead", "late")
    for name in ("district", "street", "community", "grid", "micro_grid"):
        assert data[name] == getattr(incident.chain, name)
    for name in ("title", "category", "severity", "status", "level", "unit_code"):
        assert data[name] == getattr(incident, name), name
    assert data["accept_due"] == as_json(incident.accept_due)
    assert data["resolve_due"] == as_json(incident.resolve_due)


def test_a_task_message_for_a_department_not_on_the_incident_has_no_task_status():
    incident, _, _ = a_joint_incident()
    notice = TaskNotice("nobody", "closed", incident.id, "assist", incident.seq, T0)
    data = msgspec.json.decode(out.task_message(incident, notice))["data"]
    assert data["task_status"] == "" and data["department"] == "nobody"
