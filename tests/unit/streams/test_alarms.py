"""Early-warning alarms through the incident engine (streams/incidents/alarms.py): a rule's
"raised" report opens the sensor's incident, "peak" updates it, "cleared" resolves it; a new
episode reopens the same incident (one incident per sensor and rule, never one per reading or
per flap); only the department that raised it may follow it up."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from cityops.schemas.event_types import Sensor
from cityops.streams.incidents.model import ReportIn
from cityops.streams.kafka import partition_for
from tests.unit.streams.builders import STREET, T0, a_report, an_action, an_engine

P = partition_for(STREET, 4)
SENSOR = "WL-JY-0012"


def an_alarm(step: str, value: float, minutes: float, *, department: str = "iot") -> ReportIn:
    at = T0 + timedelta(minutes=minutes)
    report = a_report("waterlogging", 3, at=at, department=department)
    sensor = Sensor(
        sensor_id=SENSOR, metric="water_level", value=value, unit="m", threshold=0.3,
        rule="waterlogging-level", alarm=step,
    )  # fmt: skip
    return msgspec.structs.replace(
        report,
        id=f"cityops:rule:waterlogging-level:{SENSOR}:{step}:{minutes}",
        report=msgspec.structs.replace(report.report, channel="sensor", sensor=sensor),
    )


def applied(*items):
    incidents, repeats = {}, {}
    engine = an_engine(incidents, repeats)
    for item in items:
        engine.apply(P, [item])
        found, buckets = engine.table_writes()
        for values in found.values():
            incidents.update(values)
        for values in buckets.values():
            repeats.update(values)
        engine.landed()
    return engine, incidents


SERIES = {
    "raised opens one incident": ([("raised", 0.35, 0)], 1, "dispatched", 0.35),
    "peaks update the one incident": (
        [("raised", 0.35, 0), ("peak", 0.5, 5), ("peak", 0.6, 10)], 1, "dispatched", 0.6,
    ),
    "cleared resolves it": ([("raised", 0.35, 0), ("cleared", 0.15, 20)], 1, "resolved", 0.35),
    "flapping episodes reopen the same incident, never a second": (
        [("raised", 0.35, 0), ("cleared", 0.1, 20), ("raised", 0.4, 40), ("cleared", 0.1, 60),
         ("raised", 0.45, 80)],
        1, "reopened", 0.45,
    ),
    "a peak or clear with nothing raised opens nothing": (
        [("peak", 0.5, 0), ("cleared", 0.1, 5)], 0, None, None,
    ),
}  # fmt: skip


@pytest.mark.parametrize(("steps", "count", "status", "peak"), SERIES.values(), ids=SERIES.keys())
def test_alarm_series(steps, count, status, peak):
    _, incidents = applied(*(an_alarm(s, v, m) for s, v, m in steps))
    assert len(incidents) == count
    if count:
        (incident,) = incidents.values()
        assert (incident.status, incident.sensor_peak) == (status, peak)
        assert incident.lead_department == "water"


def test_cleared_releases_the_tasks_and_records_why():
    raised, cleared = an_alarm("raised", 0.35, 0), an_alarm("cleared", 0.15, 20)
    _, incidents = applied(raised, cleared)
    (incident,) = incidents.values()
    assert incident.resolved_at == cleared.at
    assert {t.status for t in incident.tasks} == {"released"}


def test_another_department_cannot_clear_the_alarm_of_iot():
    engine, incidents = applied(
        an_alarm("raised", 0.35, 0), an_alarm("cleared", 0.1, 5, department="water")
    )
    (incident,) = incidents.values()
    assert incident.status == "dispatched"
    assert engine.rejected == 1


def test_a_department_resolving_it_first_makes_the_clear_a_no_op():
    engine, incidents = applied(an_alarm("raised", 0.35, 0))
    (incident,) = incidents.values()
    for verb in ("accept", "resolve"):
        engine.apply(P, [an_action(verb, incident, at=T0 + timedelta(minutes=2))])
    engine.apply(P, [an_alarm("cleared", 0.1, 5)])
    incidents.update(engine.table_writes()[0][P])
    assert incidents[incident.id].status == "resolved"
    assert [t.department for t in incidents[incident.id].tasks if t.status == "done"] == ["water"]


def test_a_feed_silent_incident_is_led_by_the_silent_department():
    report = a_report("feed_silent", 2, level="district", department="iot")
    sensor = Sensor(sensor_id="feed:iot", metric="silent_seconds", value=300, alarm="raised")
    report = msgspec.structs.replace(
        report, report=msgspec.structs.replace(report.report, sensor=sensor)
    )
    _, incidents = applied(report)
    (incident,) = incidents.values()
    assert incident.lead_department == "iot"
    assert incident.departments == ["iot"]
