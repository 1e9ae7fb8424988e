"""The intake bridge's part of the readings path (streams/intake.py calls it): a validated reading
becomes a ReadingIn for its sensor's partition of the internal readings topic, and every
department heard from in a step sends one heartbeat (Beat) to its own partition there, and so
does every sensor group (`[[feed]]` with `metric` / `sensor_prefix`) whose readings arrived.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from cityops.schemas.event_types import Event, Reading
from cityops.streams.incidents.model import RejectIn
from cityops.streams.kafka import Outbox, partition_for
from cityops.streams.readings.model import (
    Beat,
    GroupBeat,
    ReadingBundle,
    ReadingIn,
    ReadingItem,
    sensor_key,
)
from cityops.streams.readings.rules import Feed

READINGS_BUNDLE_MAX_ITEMS = 5_000  # ~100 bytes a reading: well under the record limit
_encoder = msgspec.msgpack.Encoder()


def encode_readings(items: list[ReadingItem]) -> bytes:
    return _encoder.encode(ReadingBundle(items))


def reading_item(
    event: Event, data: Reading, at: datetime, received_at: datetime
) -> tuple[str, ReadingIn]:
    """(the sensor's routing key, the item) for one validated reading."""
    item = ReadingIn(
        event.department,
        data.sensor_id,
        data.metric,
        data.value,
        data.unit or "",
        data.location,
        event.time.timestamp(),
        at.timestamp(),
        received_at.timestamp(),
    )
    return sensor_key(event.department, data.sensor_id), item


def heard(seen: dict[str, float], department: str, at: float) -> None:
    """Remembers the latest event time of `department` within a step."""
    if department not in seen or at > seen[department]:
        seen[department] = at


def heard_groups(seen: dict[str, tuple[str, float]], groups: tuple[Feed, ...], item: ReadingIn):
    """Remembers, per sensor group the reading belongs to, (its department, the latest time)."""
    for feed in groups:
        if feed.covers(item.department, item.metric, item.sensor_id):
            name = feed.name
            if name not in seen or item.received_at > seen[name][1]:
                seen[name] = (feed.department, item.received_at)


def unrouted(item: ReadingIn, raw: bytes | None, reject_id: str) -> RejectIn:
    """A reading a bridge without the readings topic cannot pass on: stored as a reject."""
    return RejectIn(
        reject_id=reject_id,
        received_at=datetime.fromtimestamp(item.received_at, UTC),
        reason="readings are not accepted here (no readings topic)",
        path="type",
        raw=raw or b"",
        source=f"/departments/{item.department}",
        type="city.reading.v1",
    )


def add_readings(
    outbox: Outbox,
    topic: str,
    readings: dict[int, list[ReadingItem]],
    seen: dict[str, float],
    partitions: int,
    groups_seen: dict[str, tuple[str, float]] | None = None,
) -> int:
    """Adds the step's readings bundles (ticks included) and one heartbeat per department and
    per sensor group heard from (each on its feed's partition); returns the number of
    readings."""
    for department, at in seen.items():
        readings.setdefault(partition_for(department, partitions), []).append(Beat(department, at))
    for name, (department, at) in (groups_seen or {}).items():
        readings.setdefault(partition_for(name, partitions), []).append(
            GroupBeat(department, at, name)
        )
    count = 0
    for partition, items in readings.items():
        count += sum(1 for i in items if isinstance(i, ReadingIn))
        key = str(partition).encode()
        for start in range(0, len(items), READINGS_BUNDLE_MAX_ITEMS):
            chunk = items[start : start + READINGS_BUNDLE_MAX_ITEMS]
            outbox.add(topic, partition, key, encode_readings(chunk))
    return count
