"""The aiokafka defect streams/faust_patches.py corrects (docs/faust-corrections.md, defect 1),
on the real broker: `seek_to_committed()` does not rewind a partition committed at offset 0,
and the explicit `seek(tp, 0)` the patch adds does. Fails once aiokafka fixes it: then the
patch `_seek_to_committed_zero` can go."""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


async def positions(bootstrap: str) -> tuple[int, int, int]:
    """(committed, position after seek_to_committed(), position after seek(tp, 0)) once a
    consumer committed at 0 has read all three records of its partition."""
    token = uuid.uuid4().hex[:10]
    topic, group = f"fc{token}.seek0", f"fc{token}.group"
    tp = TopicPartition(topic, 0)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in (b"a", b"b", b"c"):
            await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.commit({tp: 0})
        read: list[int] = []
        deadline = time.monotonic() + 30
        while len(read) < 3:
            assert time.monotonic() < deadline, f"only {read} read"
            batch = await consumer.getmany(tp, timeout_ms=1000)
            read += [record.offset for record in batch.get(tp, [])]
        committed = await consumer.seek_to_committed()
        after_seek_to_committed = await consumer.position(tp)
        consumer.seek(tp, 0)  # what faust_patches._seek_to_committed_zero adds
        return committed[tp], after_seek_to_committed, await consumer.position(tp)
    finally:
        await consumer.stop()


def test_aiokafka_seek_to_committed_skips_offset_0_and_an_explicit_seek_rewinds(services):
    committed, after_seek_to_committed, after_seek = asyncio.run(positions(services.bootstrap))
    assert committed == 0
    assert after_seek_to_committed == 3, "aiokafka now rewinds to a committed 0"
    assert after_seek == 0
