"""Batched Kafka output for the engine and the intake bridge: many records per produce request
through aiokafka's batch API (per-message sends cost ~30 µs each on these machines), and one await
for all of them before the caller commits anything.
"""

from __future__ import annotations

import asyncio
import functools
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaProducer

from deploy.settings import KafkaConnection, kafka_connection

Record = tuple[bytes | None, bytes, list[tuple[str, bytes]]]  # key, value, headers
MAX_BATCH_BYTES = 1_000_000


def partition_for(key: str | bytes, partitions: int) -> int:
    """The partition of a key on topics the platform writes (stable, independent of clients)."""
    data = key.encode() if isinstance(key, str) else key
    return zlib.crc32(data) % partitions


def street_partitions(partitions: int) -> Callable[[str], int]:
    """`partition_for(street, partitions)`, remembered per street (a city has ~1,300 streets; the
    engine asks on every change and every table read)."""
    return functools.lru_cache(maxsize=None)(lambda street: partition_for(street, partitions))


def producer(kafka: KafkaConnection | str, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **kafka_connection(kafka).aiokafka(),
        client_id=client_id,
        acks="all",
        linger_ms=5,
        max_batch_size=MAX_BATCH_BYTES,
        max_request_size=8 * MAX_BATCH_BYTES,
        request_timeout_ms=30_000,
    )


class Outbox:
    """Records gathered per (topic, partition), sent as batches by `send()`."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, int], list[Record]] = defaultdict(list)

    def add(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        self._records[(topic, partition)].append((key, value, headers or []))

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
