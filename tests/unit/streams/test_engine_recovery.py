"""The engine after a crash in the middle of a commit: the incidents changelog may hold what the
repeats changelog lost (separate topics); a repeat report must still find its incident."""

from __future__ import annotations

from cityops.streams.incidents.engine import Engine
from cityops.streams.kafka import partition_for
from tests.unit.streams.builders import STREET, a_report, an_engine

P = partition_for(STREET, 4)  # the street's partition, where its bundles arrive


def install(engine: Engine, *, repeats_too: bool = True) -> None:
    incidents, buckets = engine.table_writes()
    for items in incidents.values():
        engine.incidents.update(items)
    if repeats_too:
        for items in buckets.values():
            engine.repeats.update(items)


def test_repeat_after_a_lost_index_write_links_to_the_recovered_incident():
    incidents, repeats = {}, {}
    first = an_engine(incidents, repeats)
    opening = a_report()
    first.apply(P, [opening])
    install(first, repeats_too=False)  # killed after the incidents changelog was sent
    assert len(incidents) == 1 and not repeats

    restarted = an_engine(incidents, repeats)
    restarted.apply(P, [opening, a_report()])  # the redelivery, then a repeat of the same place
    install(restarted)
    assert len(incidents) == 1
    (incident,) = incidents.values()
    assert incident.repeat_count == 1


def test_an_uninterrupted_run_links_the_repeat_too():
    incidents, repeats = {}, {}
    engine = an_engine(incidents, repeats)
    engine.apply(P, [a_report()])
    install(engine)
    engine.apply(P, [a_report()])
    install(engine)
    assert len(incidents) == 1 and next(iter(incidents.values())).repeat_count == 1
