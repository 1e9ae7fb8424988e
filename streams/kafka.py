"""Batched Kafka output for the engine and the intake bridge: many records per produce request
through aiokafka's batch API (per-message sends cost ~30 µs each on these machines), and one await
for all of them before the caller commits anything.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaProducer

from cityops.kafka_connection import KafkaConnection, kafka_connection

Record = tuple[bytes | None, bytes, list[tuple[str, bytes]]]  # key, value, headers
MAX_BATCH_BYTES = 1_000_000
# The largest record (key, value and headers) an Outbox with a limit sends: a Kafka broker
# refuses batches over its message.max.bytes (1 MiB by default), and a refused send would stop
# the worker on every replay of the same input. Settings.max_message_bytes configures it.
MAX_RECORD_BYTES = 1_000_000
log = logging.getLogger(__name__)


def partition_for(key: str | bytes, partitions: int) -> int:
    """The partition of a key on topics the platform writes (stable, independent of clients)."""
    data = key.encode() if isinstance(key, str) else key
    return zlib.crc32(data) % partitions


def street_partitions(partitions: int) -> Callable[[str], int]:
    """`partition_for(street, partitions)`, remembered per street (a city has ~1,300 streets; the
    engine asks on every change and every table read)."""
    return functools.lru_cache(maxsize=None)(lambda street: partition_for(street, partitions))


# Topics only this program reads (the bridge's bundles, Faust's changelogs) are compressed with
# LZ4 (docs/performance.md P15). Topics other programs read (city.incidents, city.tasks.*) are
# not: a department's client would need an LZ4 library to read them.
INTERNAL_COMPRESSION = "lz4"


def producer(
    kafka: KafkaConnection | str, client_id: str, *, compression: str | None = None
) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **kafka_connection(kafka).aiokafka(),
        client_id=client_id,
        acks="all",
        linger_ms=5,
        max_batch_size=MAX_BATCH_BYTES,
        max_request_size=8 * MAX_BATCH_BYTES,
        request_timeout_ms=30_000,
        compression_type=compression,
    )


def record_size(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None) -> int:
    size = len(value) + (len(key) if key else 0)
    if headers:
        size += sum(len(name) + len(data) for name, data in headers)
    return size


class Outbox:
    """Records gathered per (topic, partition), sent as batches by `send()`.

    With `max_record_bytes`, a larger record is refused by `add` (logged, counted in `refused`,
    never sent): the caller keeps what it means elsewhere (the engine's rows in ClickHouse)."""

    def __init__(self, max_record_bytes: int | None = None) -> None:
        self._records: dict[tuple[str, int], list[Record]] = defaultdict(list)
        self.max_record_bytes = max_record_bytes
        self.refused = 0

    def add(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> bool:
        """Queues one record; False when it is over `max_record_bytes` (then it is dropped)."""
        limit = self.max_record_bytes
        if limit is not None:
            size = record_size(key, value, headers)
            if size > limit:
                self.refused += 1
                log.error(
                    "a record of %d bytes for %s/%d (key %r) is over the %d-byte limit; not sent",
                    size,
                    topic,
                    partition,
                    (key or b"")[:80],
                    limit,
                )
                return False
        self._records[(topic, partition)].append((key, value, headers or []))
        return True

    def __len__(self) -> int:
        return sum(len(r) for r in self._records.values())

    async def send(self, kafka: AIOKafkaProducer) -> int:
        """Sends everything and waits until the broker has it all; returns the record count."""
        futures = []
        count = 0
        for (topic, partition), records in self._records.items():
            for batch in _batches(kafka, records):
                futures.append(await kafka.send_batch(batch, topic, partition=partition))
            count += len(records)
        if futures:
            await asyncio.gather(*futures)
        self._records.clear()
        return count


def _batches(kafka: AIOKafkaProducer, records: Iterable[Record]):
    batch = kafka.create_batch()
    size = 0
    for key, value, headers in records:
        if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
            if size:
                yield batch
            batch = kafka.create_batch()
            size = 0
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                raise ValueError(f"a record of {len(value)} bytes exceeds the batch size")
        size += 1
    if size:
        yield batch
