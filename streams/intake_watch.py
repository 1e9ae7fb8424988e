"""The intake bridge's read watch: a consumer whose read position stands apart from its log's end
for a minute — behind it with nothing arriving, or beyond it — is stuck, and the bridge leaves to be
restarted with a fresh consumer from the committed offsets (streams/intake.py).

Seen once after the durable broker came back from an outage: the bridge went on stepping (clock
ticks were bundled) while 48 acknowledged events stayed in `city.events`, unread, for minutes; a
new consumer read them at once. Pure: positions, high watermarks and times in, partitions out.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Generic, TypeVar

READ_STALL_SECONDS = 60.0
K = TypeVar("K", bound=Hashable)  # a partition (aiokafka's TopicPartition in the bridge)


class ReadWatch(Generic[K]):
    """Per partition, since when its read position has differed from its log's end (the last
    fetch's high watermark) without a record arriving."""

    def __init__(self, limit: float = READ_STALL_SECONDS) -> None:
        self.limit = limit
        self._since: dict[K, float] = {}

    def stuck(
        self,
        now: float,
        states: Mapping[K, tuple[int | None, int | None]],
        fetched: Iterable[K],
    ) -> list[K]:
        """The partitions stuck for `limit` seconds. `states`: (position, high watermark) of each
        held partition, None where unknown; `fetched`: partitions that delivered records since
        the last call."""
        arrived = set(fetched)
        for tp in [tp for tp in self._since if tp not in states]:
            del self._since[tp]  # no longer held
        out = []
        for tp, (position, high) in states.items():
            if position is None or high is None or position == high:
                self._since.pop(tp, None)
                continue
            if tp in arrived:
                self._since[tp] = now  # the clock runs from the last record
                continue
            if now - self._since.setdefault(tp, now) >= self.limit:
                out.append(tp)
        return out
