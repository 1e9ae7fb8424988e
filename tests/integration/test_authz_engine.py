"""Attacks straight on Kafka against a real worker, a real broker and ClickHouse (CONTRACT §8):
another department's name, a citizen's answer from a department that is not citizen-facing, joint
handling asked for by an outsider, and another department's event id published first. Each is
refused with its reason in rejected_events (or does not hide the real event) and the incident in
ClickHouse is unchanged; the stream goes on."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.test_engine import (
    Stack,
    a_report,
    act_and_wait,
    an_action,
    incident_of,
    make_stack,
    status_of,
    timeline,
)

LEAD = "traffic_police"  # the lead of disorderly parking (category `parking`)


@pytest.fixture(scope="module")
def engine(request, services, tmp_path_factory):
    """One worker for the attacks, each at its own micro-grid."""
    stack = make_stack(
        request, services.bootstrap, services.clickhouse, tmp_path_factory.mktemp("authz")
    )
    stack.start()
    yield stack
    stack.stop()
    stack.ch.disconnect()


def forged(verb: str, incident_id: str, department: str, sender: str, **data) -> dict:
    """An action in `department`'s name, published from `sender`'s source."""
    event = an_action(verb, incident_id, department, **data)
    event["source"] = f"/departments/{sender}"
    return event


def rejection_of(stack: Stack, event: dict) -> tuple[str, str, str]:
    """(reason, path, source) of the event's row in rejected_events, waited for."""
    rows = stack.wait(
        f"a rejected_events row for {event['type']} {event['id']}",
        lambda: stack.q(
            "SELECT reason, path, source FROM {db}.rejected_events WHERE event_id = %(id)s",
            {"id": event["id"]},
        ),
    )
    return rows[0]


def parking_incident(stack: Stack, micro: str) -> str:
    report = a_report("parking", 1, micro)
    stack.send(report)
    incident = incident_of(stack, report["id"])
    stack.wait("the incident dispatched", lambda: (s := status_of(stack, incident)) and s[0])
    return incident


def departments_of(stack: Stack, incident: str) -> list[str]:
    rows = stack.q(
        "SELECT DISTINCT department FROM {db}.dept_tasks WHERE incident_id = %(i)s "
        "ORDER BY department",
        {"i": incident},
    )
    return [d for (d,) in rows]


def test_gas_cannot_accept_or_resolve_in_the_traffic_polices_name(engine):
    incident = parking_incident(engine, "3201050010010201")
    accept = forged("accept", incident, LEAD, "gas")
    engine.send(accept)
    reason, path, source = rejection_of(engine, accept)
    assert 'is not the sender "gas"' in reason and LEAD in reason
    assert (path, source) == ("data.department", "/departments/gas")
    assert status_of(engine, incident)[0] == "dispatched"
    assert "accepted" not in timeline(engine, incident)
    # the real lead still accepts; a forged resolve is refused the same way
    act_and_wait(engine, an_action("accept", incident, LEAD), "accepted", incident)
    resolve = forged("resolve", incident, LEAD, "gas")
    engine.send(resolve)
    assert 'is not the sender "gas"' in rejection_of(engine, resolve)[0]
    assert status_of(engine, incident)[0] == "accepted"
    accepted_by = engine.q(
        "SELECT department FROM {db}.incident_transitions "
        "WHERE incident_id = %(i)s AND kind = 'accepted'",
        {"i": incident},
    )
    assert accepted_by == [(LEAD,)]


def test_feedback_only_from_a_citizen_facing_department(engine):
    incident = parking_incident(engine, "3201050010010202")
    act_and_wait(engine, an_action("accept", incident, LEAD), "accepted", incident)
    act_and_wait(engine, an_action("resolve", incident, LEAD), "resolved", incident)
    own = an_action("feedback", incident, LEAD, satisfied=True)  # the lead closing its own case
    engine.send(own)
    assert "feedback only from a citizen-facing department" in rejection_of(engine, own)[0]
    as_hotline = forged("feedback", incident, "hotline12345", "gas", satisfied=True)
    engine.send(as_hotline)
    assert 'is not the sender "gas"' in rejection_of(engine, as_hotline)[0]
    assert status_of(engine, incident)[0] == "resolved"
    act_and_wait(
        engine, an_action("feedback", incident, "hotline12345", satisfied=True), "closed", incident
    )


def test_assist_only_from_a_department_on_the_incident(engine):
    incident = parking_incident(engine, "3201050010010203")
    assert departments_of(engine, incident) == [LEAD]
    in_leads_name = forged("assist", incident, LEAD, "gas", departments=["gas", "power"])
    outsider = an_action("assist", incident, "gas", departments=["power"])
    engine.send(in_leads_name, outsider)
    assert 'is not the sender "gas"' in rejection_of(engine, in_leads_name)[0]
    assert (
        'assist requested by "gas", which is not on incident' in rejection_of(engine, outsider)[0]
    )
    assert departments_of(engine, incident) == [LEAD]
    assert "assist_requested" not in timeline(engine, incident)
    # the lead may ask
    engine.send(an_action("assist", incident, LEAD, departments=["urban_mgmt"]))
    engine.wait(
        "the lead's assist request to add urban_mgmt",
        lambda: departments_of(engine, incident) == [LEAD, "urban_mgmt"],
    )


def test_another_departments_id_published_first_does_not_hide_the_real_report(engine):
    micro = "3201050010010204"
    shared_id = f"guessed-{uuid.uuid4().hex[:8]}"
    squatter = a_report("gas_leak", 1, micro)
    squatter.update(id=shared_id, source="/departments/gas")
    engine.send(squatter)
    squatted = engine.wait(
        "the squatter's report stored",
        lambda: engine.q(
            "SELECT incident_id FROM {db}.events WHERE id = %(id)s AND source = %(s)s",
            {"id": shared_id, "s": "/departments/gas"},
        ),
    )[0][0]
    real = a_report("parking", 1, micro)
    real["id"] = shared_id  # the hotline's real report, same id, same street
    engine.send(real)
    stored = engine.wait(
        "the hotline's real report stored with its own incident",
        lambda: engine.q(
            "SELECT incident_id FROM {db}.events WHERE id = %(id)s AND source = %(s)s",
            {"id": shared_id, "s": "/departments/hotline12345"},
        ),
        timeout=30,
    )
    incident = stored[0][0]
    assert incident != squatted
    engine.wait("the real incident dispatched", lambda: status_of(engine, incident))
    row = engine.q(
        "SELECT category, lead_department FROM {db}.incidents_current WHERE incident_id = %(i)s",
        {"i": incident},
    )
    assert row == [("parking", LEAD)]
