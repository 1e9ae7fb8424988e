"""SLA timers of the incident engine, kept compact: per partition, a heap of minutes and, per
minute, one bytearray of packed (due, incident id) entries, instead of a million tuple objects.
The engine arms an entry on every change (`Engine._arm`) and pops what is due on each tick.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Iterator

_ENTRY = struct.Struct("<dB")  # due (Unix seconds, exact), then the id's length in bytes
_MINUTE = 60.0


class Timers:
    """When each incident's timer is next due, per partition.

    An entry fires at the first `pop_due(limit)` with `limit >= due`, exactly as a heap of
    (due, id) tuples would; minutes only group entries. An incident may hold several entries
    (one per change); a stale one fires into a `step` that finds nothing due, as before.
    About 9 bytes plus the id's length per entry (a tuple with its float was ~170 bytes).
    """

    def __init__(self) -> None:
        self._minutes: dict[int, list[int]] = {}  # partition → heap of minutes holding entries
        self._entries: dict[int, dict[int, bytearray]] = {}  # partition → minute → packed

    def arm(self, partition: int, due: float, incident_id: str) -> None:
        key = incident_id.encode()
        if len(key) > 255:
            raise ValueError(f"incident id longer than 255 bytes: {incident_id!r}")
        minute = int(due // _MINUTE)
        entries = self._entries.setdefault(partition, {})
        packed = entries.get(minute)
        if packed is None:
            packed = entries[minute] = bytearray()
            heapq.heappush(self._minutes.setdefault(partition, []), minute)
        packed += _ENTRY.pack(due, len(key))
        packed += key

    def pop_due(self, partition: int, limit: float) -> list[str]:
        """Removes and returns the ids of entries due at or before `limit`, in (due, id) order."""
        minutes = self._minutes.get(partition)
        if not minutes:
            return []
        entries = self._entries[partition]
        last = int(limit // _MINUTE)
        due: list[tuple[float, str]] = []
        kept = None
        while minutes and minutes[0] <= last:
            minute = heapq.heappop(minutes)
            packed = entries.pop(minute)
            if minute < last:  # the whole minute lies before `limit`
                due.extend(_unpack(packed))
                continue
            later = bytearray()
            for at, incident_id in _unpack(packed):
                if at <= limit:
                    due.append((at, incident_id))
                else:
                    key = incident_id.encode()
                    later += _ENTRY.pack(at, len(key))
                    later += key
            if later:
                kept = (minute, later)
        if kept is not None:
            entries[kept[0]] = kept[1]
            heapq.heappush(minutes, kept[0])
        due.sort()
        return [incident_id for _, incident_id in due]

    def reset(self, partition: int) -> None:
        self._minutes.pop(partition, None)
        self._entries.pop(partition, None)

    def clear(self) -> None:
        self._minutes.clear()
        self._entries.clear()

    def count(self, partition: int) -> int:
        return sum(
            1 for packed in self._entries.get(partition, {}).values() for _ in _unpack(packed)
        )

    def nbytes(self) -> int:
        """Bytes held in packed entries (for measurements)."""
        return sum(len(p) for entries in self._entries.values() for p in entries.values())


def _unpack(packed: bytearray) -> Iterator[tuple[float, str]]:
    offset, end, size = 0, len(packed), _ENTRY.size
    view = bytes(packed)
    while offset < end:
        at, length = _ENTRY.unpack_from(view, offset)
        offset += size
        yield at, view[offset : offset + length].decode()
        offset += length
