"""The intake bridge's paused linger against the real broker: while reports trickle into every
partition, gathering step after step (take, pause, linger, resume, one fetch round) takes every
record exactly once and in offset order."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaProducer

from cityops.schemas.registry import load_registry
from cityops.streams.clock import Clock
from cityops.streams.intake import Bridge
from cityops.topics_admin import create_topics

PARTITIONS = 4
EVENTS = 1_200


async def trickle(bootstrap: str, topic: str) -> None:
    """EVENTS records, ~30 every 50 ms (600/s), round-robin over the partitions."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for n in range(EVENTS):
            await producer.send(topic, str(n).encode(), partition=n % PARTITIONS)
            if n % 30 == 29:
                await asyncio.sleep(0.05)
        await producer.flush()
    finally:
        await producer.stop()


async def gather_all(bootstrap: str, topic: str, run: str) -> tuple[dict, int, int]:
    bridge = Bridge(
        bootstrap=bootstrap,
        source=topic,
        bundles=f"{run}.bundles",
        group=f"{run}-intake",
        partitions=PARTITIONS,
        clock=Clock(),
        registry=load_registry(),
        tick_seconds=3600.0,
        linger=0.1,
        min_items=2_000,  # never reached here: every step lingers
    )
    consumer = bridge.consumer()
    await consumer.start()
    taken: dict[int, list[int]] = {p: [] for p in range(PARTITIONS)}
    steps = merged_after_linger = 0
    producing = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    try:
        # the trickle starts once the group has given the bridge its partitions, so that the
        # steps read it as it arrives instead of as one backlog
        while not consumer.assignment():
            assert loop.time() < deadline, "the bridge's consumer was given no partitions"
            assert await bridge.gather(consumer) == {}
        producing = asyncio.ensure_future(trickle(bootstrap, topic))
        while sum(map(len, taken.values())) < EVENTS and loop.time() < deadline:
            batches = await bridge.gather(consumer)
            if not batches:  # nothing arrived yet: nothing is paused
                assert not consumer.paused(), "paused after an empty take"
                continue
            # a short take that held records leaves every held partition paused until the
            # next step's fetch round
            assert consumer.paused() == consumer.assignment(), "not paused after a short take"
            steps += 1
            if len(batches) > 1:
                merged_after_linger += 1
            for tp, records in batches.items():
                taken[tp.partition].extend(r.offset for r in records)
        await producing
    finally:
        if producing is not None:
            producing.cancel()
        await consumer.stop()
    return taken, steps, merged_after_linger


def test_paused_lingers_take_every_record_once_in_order(services):
    run = f"g{uuid.uuid4().hex[:8]}"
    topic = f"{run}.city.events"
    create_topics(services.bootstrap, [topic], PARTITIONS)
    taken, steps, merged = asyncio.run(gather_all(services.bootstrap, topic, run))
    for partition, offsets in taken.items():
        assert offsets == list(range(EVENTS // PARTITIONS)), (
            f"partition {partition}: {len(offsets)} records, first gaps or repeats at "
            f"{[o for i, o in enumerate(offsets) if o != i][:5]}"
        )
    # the trickle lasts ~2 s and each step lingers 0.1 s: many steps with records, most of them
    # holding records of several partitions from the one fetch round after the linger
    assert steps >= 10
    assert merged >= steps // 2, (steps, merged)
