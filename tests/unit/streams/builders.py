"""Builders for the incident engine's unit tests: reports, actions, ticks and incidents in a few
words (`a_report(category="noise")`, `an_action("accept", incident)`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cityops.schemas.event_types import Action, Location, Report, Sensor
from cityops.streams.incidents.logic import step
from cityops.streams.incidents.model import ActionIn, Chain, Incident, ReportIn, Tick
from cityops.streams.incidents.policy import Policy

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Beijing
DISTRICT, STREET = "320105", "320105001"
COMMUNITY, GRID, MICRO = "320105001001", "32010500100101", "3201050010010101"
POLICY = Policy()
_counter = iter(range(1, 10**9))


def a_chain(level: str = "micro_grid") -> Chain:
    codes = {
        "district": DISTRICT,
        "street": STREET,
        "community": COMMUNITY,
        "grid": GRID,
        "micro_grid": MICRO,
    }
    order = list(codes)
    keep = order[: order.index(level) + 1]
    return Chain(**{k: codes[k] for k in keep})


def a_report(
    category: str = "noise",
    severity: int = 1,
    *,
    level: str = "micro_grid",
    lat: float | None = None,
    lon: float | None = None,
    address: str | None = None,
    sensor: str | None = None,
    at: datetime = T0,
    id: str | None = None,
    department: str = "hotline12345",
    channel: str = "hotline",
) -> ReportIn:
    chain = a_chain(level)
    location = Location(
        district=chain.district,
        street=chain.street or None,
        community=chain.community or None,
        grid=chain.grid or None,
        micro_grid=chain.micro_grid or None,
        lat=lat,
        lon=lon,
        address=address,
    )
    report = Report(
        channel=channel,
        category=category,
        severity=severity,
        title="a matter",
        location=location,
        sensor=Sensor(sensor_id=sensor, metric="level", value=1.0) if sensor else None,
    )
    return ReportIn(
        id=id or f"r{next(_counter)}",
        department=department,
        at=at,
        report=report,
        chain=chain,
        received_at=at,
    )


def an_action(
    verb: str,
    incident: Incident | str,
    department: str | None = None,
    *,
    departments: list[str] | None = None,
    satisfied: bool | None = None,
    at: datetime = T0,
    id: str | None = None,
    sender: str | None = None,
    resolved: bool | None = None,
    reason: str | None = None,
    to_department: str | None = None,
    comment: str | None = None,
    into: str | None = None,
) -> ActionIn:
    """An action in `department`'s name (default: the lead; feedback: the 12345 hotline), sent by
    `sender` (the department of its source; default: the same department)."""
    incident_id = incident if isinstance(incident, str) else incident.id
    if department is None and verb == "feedback":
        department = "hotline12345"
    if department is None:
        department = incident.lead_department if isinstance(incident, Incident) else "urban_mgmt"
    action = Action(
        incident_id=incident_id,
        department=department,
        actor="officer-7",
        departments=departments,
        satisfied=satisfied,
        resolved=resolved,
        reason=reason,
        to_department=to_department,
        comment=comment,
        into=into,
    )
    return ActionIn(
        id=id or f"a{next(_counter)}",
        verb=verb,
        department=sender or department,
        at=at,
        action=action,
        received_at=at,
    )


def a_tick(at: datetime) -> Tick:
    return Tick(now=at)


def an_incident(category: str = "noise", severity: int = 1, **kw) -> Incident:
    incident, _, _ = step(None, a_report(category, severity, **kw), T0, POLICY)
    assert incident is not None
    return incident


def moved(incident: Incident, *verbs: str, at: datetime = T0) -> Incident:
    """The incident after its lead department did `verbs` in order (each must be accepted)."""
    for verb in verbs:
        extra = {"satisfied": True} if verb == "feedback" else {}
        new, _, out = step(incident, an_action(verb, incident, **extra), at, POLICY)
        assert not any(type(o).__name__ == "Rejection" for o in out), out
        incident = new
        at += timedelta(minutes=1)
    return incident


class NoRows:
    """A writer that keeps nothing (engine tests that look at the tables only)."""

    pending = 0

    def add(self, table, row) -> None:
        pass


def an_engine(incidents: dict, repeats: dict, partitions: int = 4):
    """An Engine over plain dicts."""
    from cityops.schemas.topics import Topics
    from cityops.streams.incidents.engine import Engine

    return Engine(incidents, repeats, NoRows(), Topics(""), partitions, POLICY)
