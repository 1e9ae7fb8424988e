"""The engine with a commit in flight: `table_writes()` hands the overlay over while ClickHouse and
the broker store it, and bundles applied meanwhile must decide exactly as if it had landed."""

from __future__ import annotations

from datetime import timedelta

from cityops.streams.incidents.engine import Engine
from cityops.streams.kafka import partition_for
from tests.unit.streams.builders import STREET, T0, a_report, an_engine

P = partition_for(STREET, 4)


def land(engine: Engine, writes) -> None:
    incidents, buckets = writes
    for items in incidents.values():
        engine.incidents.update(items)
    for items in buckets.values():
        engine.repeats.update(items)
    engine.landed()


def test_a_repeat_applied_while_its_incident_is_in_flight_links_to_it():
    incidents, repeats = {}, {}
    engine = an_engine(incidents, repeats)
    opening = a_report()
    engine.apply(P, [opening])
    in_flight = engine.table_writes()  # being stored; not in the tables yet
    assert not incidents and not repeats

    engine.apply(P, [opening, a_report(at=T0 + timedelta(minutes=5))])  # redelivery + repeat
    land(engine, in_flight)
    land(engine, engine.table_writes())
    assert len(incidents) == 1
    (incident,) = incidents.values()
    assert incident.repeat_count == 1


def test_the_next_overlay_wins_over_the_commit_in_flight():
    incidents, repeats = {}, {}
    engine = an_engine(incidents, repeats)
    engine.apply(P, [a_report()])
    in_flight = engine.table_writes()
    engine.apply(P, [a_report(at=T0 + timedelta(minutes=5))])
    (incident_id,) = engine._incidents  # the fresh overlay holds the newer version
    assert engine.incident(incident_id).repeat_count == 1
    land(engine, in_flight)  # the older version lands after the newer was applied
    assert engine.incident(incident_id).repeat_count == 1
    land(engine, engine.table_writes())
    assert incidents[incident_id].repeat_count == 1


def test_landed_stops_reading_the_commit_in_flight():
    engine = an_engine({}, {})
    engine.apply(P, [a_report()])
    incidents, _ = engine.table_writes()
    ((incident_id, _incident),) = incidents[P]
    assert engine.incident(incident_id) is not None  # read from the commit in flight
    engine.landed()  # (a test that never installs: the table stays empty)
    assert engine.incident(incident_id) is None
