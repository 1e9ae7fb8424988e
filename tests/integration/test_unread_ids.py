"""The fault matrix's `behind` column: the event ids a consumer group has not read yet are those at
or past its committed offsets in each partition (all of a partition it never committed)."""

from __future__ import annotations

import asyncio
import uuid

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from cityops.bench.loss import unread_ids


async def _fill_and_commit(bootstrap: str, topic: str, group: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for i in range(10):
            value = orjson.dumps({"id": f"e-{i}"})
            await (await producer.send(topic, value, partition=0 if i < 6 else 1))
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:  # e-0 … e-3 read and committed on partition 0; partition 1 never committed
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): 4})
    finally:
        await consumer.stop()


def test_unread_ids_start_at_the_groups_committed_offsets(services):
    topic, group = f"unread-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=services.bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    asyncio.run(_fill_and_commit(services.bootstrap, topic, group))
    unread = asyncio.run(unread_ids(services.bootstrap, topic, 2, group))
    assert unread == {"e-4", "e-5", "e-6", "e-7", "e-8", "e-9"}


def test_without_a_group_every_id_is_read_from_the_start(services):
    from cityops.bench.loss import topic_ids

    topic, group = f"unread-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=services.bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    asyncio.run(_fill_and_commit(services.bootstrap, topic, group))
    assert asyncio.run(topic_ids(services.bootstrap, topic, 2)) == {f"e-{i}" for i in range(10)}
