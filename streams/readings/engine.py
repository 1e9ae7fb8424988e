"""The readings engine between Faust and the pure steps (evaluate.py): applies a readings bundle —
a row per reading for the `readings` table, each rule of the reading's metric stepped on its
(department, sensor, rule) state, heartbeats and clock ticks stepped on the feeds — and keeps
what changed in an overlay until the agent commits it (agent.py). Alarms become reports on
city.events (alarm_events.py); nothing here opens an incident itself.

Tables are reached through the engine's `Store` interface (a FaustStore, or a dict in tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from cityops.streams.clock import Clock
from cityops.streams.incidents.engine import Store
from cityops.streams.kafka import partition_for
from cityops.streams.readings.alarm_events import feed_report, rule_report
from cityops.streams.readings.evaluate import FeedState, RuleState, beat, feed_tick, rule_step
from cityops.streams.readings.model import (
    Beat,
    ClockTick,
    GroupBeat,
    ReadingIn,
    ReadingItem,
    sensor_key,
)
from cityops.streams.readings.rules import Feed, RuleSet

STATE_CODEC_TYPE = RuleState
FEED_CODEC_TYPE = FeedState
FEED_PREFIX = "#feed|"


def state_key(department: str, sensor_id: str, rule: str) -> str:
    return f"{sensor_key(department, sensor_id)}|{rule}"


def state_partition(partitions: int):
    """The partition of a rule-state key: its sensor's (where the sensor's readings arrive)."""

    def partition_of(key: str) -> int:
        return partition_for(key.rsplit("|", 1)[0], partitions)

    return partition_of


def feed_partition(partitions: int):
    """The partition of a feed key `#feed|<name>`: the feed's (its heartbeats'); a department's
    feed is named after the department."""

    def partition_of(key: str) -> int:
        return partition_for(key[len(FEED_PREFIX) :], partitions)

    return partition_of


@dataclass
class ReadingsEngine:
    states: Store
    feeds: Store
    rules: RuleSet
    partitions: int
    clock: Clock
    # (partition, value) of what changed since the last commit
    _states: dict[str, tuple[int, RuleState]] = field(default_factory=dict)
    _feeds: dict[str, tuple[int, FeedState]] = field(default_factory=dict)
    rows: list[tuple] = field(default_factory=list)  # readings table rows
    feed_rows: list[tuple] = field(default_factory=list)  # feed_states table rows
    alarms: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key, CloudEvent)
    readings: int = 0
    _feeds_of: dict[int, list] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for feed in self.rules.feeds:
            self._feeds_of.setdefault(partition_for(feed.name, self.partitions), []).append(feed)

    def apply(self, partition: int, items: list[ReadingItem]) -> None:
        rows = self.rows
        for item in items:
            if type(item) is ReadingIn:
                self.readings += 1
                location = item.location
                rows.append(
                    (
                        item.sensor_id,
                        int(item.time),
                        item.metric,
                        item.department,
                        item.value,
                        item.unit,
                        location.district,
                        location.street or "",
                        location.micro_grid or "",
                        int(item.received_at),
                    )
                )
                for rule in self.rules.for_metric(item.metric):
                    if item.department in rule.departments:
                        self._rule(partition, rule, item)
            elif type(item) is Beat:
                self._beat(partition, item.department, item.department, item.at)
            elif type(item) is GroupBeat:
                self._beat(partition, item.feed, item.department, item.at)
            elif type(item) is ClockTick:
                # Silence is a publisher's real outage: judged in real seconds even when the
                # engine clock runs faster (a simulation's pause is not a silent feed).
                self._tick(partition, self.clock.real(item.now))

    def _rule(self, partition: int, rule, item: ReadingIn) -> None:
        key = state_key(item.department, item.sensor_id, rule.name)
        pending = self._states.get(key)
        current = pending[1] if pending else self.states.get(key)
        state, alarm = rule_step(rule, current, item.value, item.at)
        if state is not current:
            self._states[key] = (partition, state)
        if alarm is not None:
            self.alarms.append(rule_report(rule, item, alarm))

    def _feed(self, key: str) -> FeedState | None:
        pending = self._feeds.get(key)
        return pending[1] if pending else self.feeds.get(key)

    def _beat(self, partition: int, name: str, department: str, at: float) -> None:
        feed = self.rules.feed(name)
        if feed is None or feed.department != department:
            return
        key = FEED_PREFIX + feed.name
        current = self._feed(key)
        state, alarm = beat(current, at)
        if state != current:
            self._feeds[key] = (partition, state)
        if alarm is not None:
            self._feed_alarm(feed, state, alarm, at)

    def _tick(self, partition: int, now: float) -> None:
        for feed in self._feeds_of.get(partition, ()):
            key = FEED_PREFIX + feed.name
            current = self._feed(key)
            state, alarm = feed_tick(feed, current, now)
            if alarm is not None and state is not None:
                self._feeds[key] = (partition, state)
                self._feed_alarm(feed, state, alarm, now)

    def _feed_alarm(self, feed: Feed, state: FeedState, alarm, at: float) -> None:
        self.alarms.append(feed_report(feed, alarm, at))
        silent = alarm.step == "raised"
        self.feed_rows.append(
            (
                feed.name,  # `feed_states.department`: the feed's name
                int(silent),
                int(alarm.episode) if silent else None,
                int(state.last_seen),
                int(at * 1000),
                int(at),
            )
        )

    def take(self) -> tuple[dict[int, list], dict[int, list]]:
        """What changed since the last call, per partition: (rule states, feed states)."""
        states: dict[int, list[tuple[str, Any]]] = {}
        for key, (partition, rule_state) in self._states.items():
            states.setdefault(partition, []).append((key, rule_state))
        feeds: dict[int, list[tuple[str, Any]]] = {}
        for key, (partition, feed_state) in self._feeds.items():
            feeds.setdefault(partition, []).append((key, feed_state))
        self._states, self._feeds = {}, {}
        return states, feeds


def codec(kind: type) -> Any:
    """An encoder/decoder pair as FaustStore expects (`.encoder.encode`, `.decoder.decode`)."""

    class _Codec:
        encoder = msgspec.msgpack.Encoder()
        decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(kind)

    return _Codec
