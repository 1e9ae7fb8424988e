"""Tansu answers ListOffsets(latest) with the last record batch's base offset + 1; Faust's
recovery used that answer as each changelog's end (a worker given a partition back stopped with
ConsistencyError). `true_end_offsets` reads the high watermark of a fetch instead."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from cityops.streams.faust_patches import true_end_offsets


async def _ends(bootstrap: str, topic: str) -> tuple[dict, dict]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=200)
    await producer.start()
    try:
        # Four records in one batch on partition 0, one record on partition 1; partition 2 empty.
        sent = [await producer.send(topic, b"x", partition=0) for _ in range(4)]
        await producer.flush()
        sent.append(await producer.send(topic, b"y", partition=1))
        await producer.flush()
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        listed = await consumer.end_offsets(tps)
        true = await true_end_offsets(consumer, tps)
    finally:
        await consumer.stop()
    return listed, true


def test_end_offsets_count_every_record_of_the_last_batch(services):
    topic = f"ends-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=services.bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    admin.close()
    listed, true = asyncio.run(_ends(services.bootstrap, topic))
    tp = [TopicPartition(topic, p) for p in range(3)]
    assert (true[tp[0]], true[tp[1]], true[tp[2]]) == (4, 1, 0)
    # what the broker's ListOffsets said: never more than the truth
    assert all(listed[t] <= true[t] for t in tp)
