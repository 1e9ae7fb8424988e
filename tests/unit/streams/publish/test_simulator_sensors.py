"""The simulator's sensor population: deterministic, every reading valid, and a rainstorm that
drives the water-level rule (deploy/config/rules.toml) over its line once per flooded gauge."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from cityops.schemas.events import parse_event
from cityops.schemas.registry import load_registry
from cityops.streams.publish.simulator.run import reading_event
from cityops.streams.publish.simulator.sensors import KINDS, SensorPopulation
from cityops.streams.readings.evaluate import rule_step
from cityops.streams.readings.rules import load_rules

START = datetime(2026, 7, 1, 6, 0, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def alarms(population: SensorPopulation, hours: float = 2.0) -> dict[str, list[str]]:
    """sensor id → the water-level rule's alarm steps over `hours` of the scenario."""
    rule = load_rules().for_metric("water_level")[0]
    states: dict = {}
    steps: dict[str, list[str]] = {}
    for at, data in population.readings(START, START, START + hours * 3600):
        if data["metric"] != "water_level":
            continue
        sensor = data["sensor_id"]
        states[sensor], alarm = rule_step(rule, states.get(sensor), data["value"], at)
        if alarm is not None and alarm.step != "peak":
            steps.setdefault(sensor, []).append(alarm.step)
    return steps


def test_the_population_has_every_kind_and_is_the_same_for_a_seed(registry):
    one = SensorPopulation(7, "normal", registry)
    assert {s.metric for s in one.sensors} == set(KINDS)
    assert one.readings(START, START, START + 120) == SensorPopulation(
        7, "normal", registry
    ).readings(START, START, START + 120)
    assert 5 < one.per_second < 20  # readings per second of city time


def test_every_reading_is_a_valid_city_reading(registry):
    population = SensorPopulation(3, "rainstorm", registry)
    now = datetime.fromtimestamp(START, UTC)
    for at, data in population.readings(START, START, START + 120):
        event = reading_event(data, at, now)
        parsed = parse_event(msgspec.json.encode(event), now=now, registry=registry)
        assert parsed.type == "city.reading.v1"


def test_a_rainstorm_raises_and_clears_each_flooded_gauge_once(registry):
    population = SensorPopulation(7, "rainstorm", registry)
    flooded = {s.sensor_id for s in population.sensors if s.floods}
    steps = alarms(population)
    assert flooded and set(steps) == flooded
    assert all(s == ["raised", "cleared"] for s in steps.values()), steps
    assert {s[3:9] for s in steps} <= {"320105", "320104"}  # Jianye and Qinhuai


def test_an_ordinary_day_raises_no_water_alarm(registry):
    assert alarms(SensorPopulation(7, "normal", registry)) == {}
