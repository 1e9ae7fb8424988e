"""The events the suites publish, as (key, value) pairs for Kafka, and publishing them.

Every event comes from the simulator (streams/publish/simulator/): `generate` for the realistic
mix, `batches` for numbered ids and for reports that each open their own incident. Keys are the
events' partition keys, as the SDK sends them.

Moving the suites here (2026-12-06) left the events of the throughput, scaling, latency, memory,
publishing and engine suites as they were (compared event by event; the engine's output digest is
unchanged), so their results compare with the earlier ones in bench/results/. The validator's
changed (bench/validator.py says how); `sample_reports`, which only tests use, now gives the
simulator's mix instead of uniformly random micro-grids and categories.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import orjson

from cityops.settings import KafkaConnection, kafka_connection
from cityops.streams.publish.simulator.batches import distinct_incidents, numbered_reports
from cityops.streams.publish.simulator.run import generate


def pairs(events: list[dict]) -> list[tuple[bytes, bytes]]:
    """(key, value) of each event: its partition key (or district) and its JSON."""
    return [
        (
            (event.get("partitionkey") or event["data"]["location"].get("district", "")).encode(),
            orjson.dumps(event),
        )
        for event in events
    ]


def event_mix(n: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    """n events of the simulator's everyday mix, 50 ms of city time apart from an hour ago."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    return pairs(generate(seed, "normal", start, n))


def sample_reports(
    n: int, seed: int = 7, *, start: dt.datetime | None = None, run: str = "bench"
) -> list[tuple[bytes, bytes]]:
    """n events of the simulator's mix one millisecond apart from `start` (default half an hour
    ago), ids `<run>-<i>`: a test or benchmark can count its own."""
    return pairs(numbered_reports(n, seed, run=run, start=start))


def one_incident_each(n: int, tag: str) -> list[tuple[bytes, bytes]]:
    """n reports that each open their own incident (ids `<tag>-<i>`)."""
    return pairs(distinct_incidents(n, tag))


async def publish_all(
    bootstrap: KafkaConnection | str, topic: str, pairs: list[tuple[bytes, bytes]]
) -> float:
    """Publishes every (key, value) and waits for the broker's acknowledgements; seconds taken."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        **kafka_connection(bootstrap).aiokafka(), linger_ms=20, max_batch_size=1 << 20, acks=1
    )
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for key, value in pairs:
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started
