"""The sensor rule and the silent feed as tables of cases: a series of readings (time, value) in,
the alarms out. One incident per episode: raised once after `for_seconds`, peaks only when
worse, cleared only past the clear level (hysteresis)."""

from __future__ import annotations

import pytest

from cityops.streams.readings.evaluate import FeedState, beat, feed_tick, rule_step
from cityops.streams.readings.rules import Feed, Rule

WATER = Rule(
    "waterlogging-level", "water_level", "above", 0.30, 600, 0.20, "waterlogging", 3,
    peak_every_seconds=60,
)  # fmt: skip
LOW_PRESSURE = Rule(
    "low-pressure", "pressure_kpa", "below", 150.0, 0, 180.0, "water_supply", 2,
    peak_every_seconds=0,
)  # fmt: skip


def run(rule: Rule, readings: list[tuple[float, float]]) -> list[tuple[str, float, float]]:
    """(step, value, episode) of every alarm the readings raise, in order."""
    state, alarms = None, []
    for at, value in readings:
        state, alarm = rule_step(rule, state, value, at)
        if alarm is not None:
            alarms.append((alarm.step, alarm.value, alarm.episode))
    return alarms


CASES = {
    "below the threshold: nothing": (WATER, [(0, 0.1), (600, 0.25), (1200, 0.29)], []),
    "above, but not for long enough: nothing": (WATER, [(0, 0.35), (599, 0.36)], []),
    "above for the whole duration: raised once, at its start": (
        WATER,
        [(0, 0.35), (300, 0.34), (600, 0.33), (900, 0.32)],
        [("raised", 0.33, 0)],
    ),
    "a dip below the threshold starts the duration over": (
        WATER,
        [(0, 0.35), (500, 0.29), (600, 0.35), (1100, 0.35), (1200, 0.35)],
        [("raised", 0.35, 600)],
    ),
    "a worse value is told as a peak, a lower one is not": (
        WATER,
        [(0, 0.4), (600, 0.4), (700, 0.5), (800, 0.45), (900, 0.6)],
        [("raised", 0.4, 0), ("peak", 0.5, 0), ("peak", 0.6, 0)],
    ),
    "peaks no more often than peak_every_seconds; the worst is told next time": (
        WATER,
        [(0, 0.4), (600, 0.4), (630, 0.5), (640, 0.55), (700, 0.41)],
        [("raised", 0.4, 0), ("peak", 0.55, 0)],
    ),
    "flapping around the threshold after raising: no clear, no second raise": (
        WATER,
        [(0, 0.35), (600, 0.35)] + [(600 + 60 * i, 0.29 if i % 2 else 0.31) for i in range(1, 30)],
        [("raised", 0.35, 0)],
    ),
    "past the clear level: cleared, with the episode of the raise": (
        WATER,
        [(0, 0.35), (600, 0.35), (700, 0.21), (800, 0.19)],
        [("raised", 0.35, 0), ("cleared", 0.19, 0)],
    ),
    "after a clear a new episode needs the whole duration again": (
        WATER,
        [(0, 0.35), (600, 0.35), (700, 0.1), (800, 0.4), (1300, 0.4), (1400, 0.4)],
        [("raised", 0.35, 0), ("cleared", 0.1, 0), ("raised", 0.4, 800)],
    ),
    "an out-of-order reading changes nothing": (
        WATER,
        [(0, 0.35), (600, 0.35), (500, 0.0), (700, 0.35)],
        [("raised", 0.35, 0)],
    ),
    "a below rule: lower is worse, clear above the clear level": (
        LOW_PRESSURE,
        [(0, 160), (10, 140), (20, 120), (30, 170), (40, 130), (50, 185)],
        [("raised", 140, 10), ("peak", 120, 10), ("cleared", 185, 10)],
    ),
}


@pytest.mark.parametrize(("rule", "readings", "alarms"), CASES.values(), ids=CASES.keys())
def test_rule_alarms(rule, readings, alarms):
    assert run(rule, readings) == alarms


IOT = Feed("iot", 300)


def feed_run(steps: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Steps ("beat" | "tick", time) → (alarm step, episode) of every alarm."""
    state: FeedState | None = None
    alarms = []
    for kind, at in steps:
        if kind == "beat":
            state, alarm = beat(state, at)
        else:
            state, alarm = feed_tick(IOT, state, at)
        if alarm is not None:
            alarms.append((alarm.step, alarm.episode))
    return alarms


FEED_CASES = {
    "never heard from: not watched": ([("tick", 0), ("tick", 10_000)], []),
    "steady beats: nothing": ([("beat", 0), ("tick", 200), ("beat", 250), ("tick", 500)], []),
    "silent past the limit: raised once, not once per tick": (
        [("beat", 100), ("tick", 300), ("tick", 400), ("tick", 500), ("tick", 900)],
        [("raised", 100)],
    ),
    "data returns: cleared": (
        [("beat", 100), ("tick", 400), ("beat", 450), ("tick", 500)],
        [("raised", 100), ("cleared", 100)],
    ),
    "silent again later: a new episode": (
        [("beat", 100), ("tick", 400), ("beat", 450), ("tick", 800)],
        [("raised", 100), ("cleared", 100), ("raised", 450)],
    ),
    "a redelivered old beat does not clear": (
        [("beat", 100), ("tick", 400), ("beat", 90)],
        [("raised", 100)],
    ),
}


@pytest.mark.parametrize(("steps", "alarms"), FEED_CASES.values(), ids=FEED_CASES.keys())
def test_feed_alarms(steps, alarms):
    assert feed_run(steps) == alarms
