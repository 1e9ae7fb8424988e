"""The simulator's fixed batches for benchmarks and tests: numbered ids, one incident per report,
every event valid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from cityops.schemas.events import parse_event
from cityops.schemas.registry import load_registry
from cityops.streams.publish.simulator.batches import distinct_incidents, numbered_reports
from cityops.streams.publish.simulator.run import generate

START = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def test_numbered_reports_are_the_generators_events_with_numbered_ids():
    events = numbered_reports(50, 3, run="r1", start=START, interval=0.05)
    plain = generate(3, "normal", START, 50)
    assert [e["id"] for e in events] == [f"r1-{i}" for i in range(50)]
    assert [{**e, "id": ""} for e in events] == [{**e, "id": ""} for e in plain]


@pytest.mark.parametrize(
    ("n", "interval", "span_ms"),
    [(1, 0.001, 0), (10, 0.001, 9), (10, 0, 0)],
)
def test_numbered_reports_are_interval_apart(n, interval, span_ms):
    events = numbered_reports(n, run="t", start=START, interval=interval)
    first = datetime.fromisoformat(events[0]["time"])
    last = datetime.fromisoformat(events[-1]["time"])
    assert last - first == timedelta(milliseconds=span_ms)


def test_distinct_incidents_are_valid_and_each_a_new_micro_grid_category_pair():
    registry = load_registry()
    events = distinct_incidents(600, "mem", now=START, registry=registry)
    assert [e["id"] for e in events] == [f"mem-{i}" for i in range(600)]
    pairs = {(e["data"]["location"]["micro_grid"], e["data"]["category"]) for e in events}
    assert len(pairs) == 600
    for event in events:
        assert event["partitionkey"] == event["data"]["location"]["street"]
        assert event["source"] == "/departments/grid_inspect"
        parse_event(orjson.dumps(event), now=START + timedelta(minutes=1), registry=registry)


def test_distinct_incidents_refuses_more_than_the_city_has():
    registry = load_registry()
    with pytest.raises(ValueError, match="distinct incidents"):
        distinct_incidents(10**9, "x", registry=registry)
