"""What the intake bridge sends the readings agent (internal topic `cityops.internal.readings`,
partition = the sensor's, MessagePack): validated readings, the departments' heartbeats and the
clock. Compact array-like Structs with Unix-second floats: a city sends thousands a second.
"""

from __future__ import annotations

import msgspec

from cityops.schemas.event_types import Location


class ReadingIn(msgspec.Struct, tag_field="item", tag="reading", array_like=True, gc=False):
    """A validated city.reading.v1. `time`: its own time, `at`: the same on the engine clock,
    `received_at`: the broker's timestamp (all Unix seconds)."""

    department: str
    sensor_id: str
    metric: str
    value: float
    unit: str
    location: Location
    time: float
    at: float
    received_at: float


class Beat(msgspec.Struct, tag_field="item", tag="beat", array_like=True, gc=False):
    """`department` published events; the broker received the latest at `at` (real Unix
    seconds: a feed is alive when its events arrive, whatever times they claim)."""

    department: str
    at: float


class GroupBeat(msgspec.Struct, tag_field="item", tag="group", array_like=True, gc=False):
    """Readings of the sensor group `feed` (rules.py Feed.name) of `department` arrived, the
    latest at `at`. Sent only when the rules file has sensor groups (a worker of an older release
    does not know this item)."""

    department: str
    at: float
    feed: str


class ClockTick(msgspec.Struct, tag_field="item", tag="tick", array_like=True, gc=False):
    """The engine clock for one readings partition (silent feeds are judged on it)."""

    now: float


ReadingItem = ReadingIn | Beat | GroupBeat | ClockTick


class ReadingBundle(msgspec.Struct, array_like=True):
    items: list[ReadingItem]


def sensor_key(department: str, sensor_id: str) -> str:
    """A sensor is named by its department and its id (two departments' "WL-1" are two
    sensors): the readings partition key and the start of its rule states' keys."""
    return f"{department}/{sensor_id}"
