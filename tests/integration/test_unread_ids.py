"""The fault matrix's `behind` and `unapplied` columns: the event ids a consumer group has not read
yet are those at or past its committed offsets in each partition (all of a partition it never
committed); for the engine's group, the ids of the items in the bundles past its offsets."""

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


def new_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, partitions, 1)])
    admin.close()


def test_unread_ids_start_at_the_groups_committed_offsets(services):
    topic, group = f"unread-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    new_topic(services.bootstrap, topic, 2)
    asyncio.run(_fill_and_commit(services.bootstrap, topic, group))
    unread = asyncio.run(unread_ids(services.bootstrap, topic, 2, group))
    assert unread == {"e-4", "e-5", "e-6", "e-7", "e-8", "e-9"}


def test_without_a_group_every_id_is_read_from_the_start(services):
    from cityops.bench.loss import topic_ids

    topic, group = f"unread-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    new_topic(services.bootstrap, topic, 2)
    asyncio.run(_fill_and_commit(services.bootstrap, topic, group))
    assert asyncio.run(topic_ids(services.bootstrap, topic, 2)) == {f"e-{i}" for i in range(10)}


def test_unapplied_ids_are_the_items_of_bundles_past_the_engine_groups_offsets(services):
    """Real bundles as the bridge writes them (LZ4-compressed, msgpack): the first of three
    committed by the group, the other two's report and action ids are unapplied; a tick has no
    id and adds none."""
    from cityops.bench.loss import unapplied_ids
    from cityops.streams.incidents.model import Tick
    from cityops.streams.intake import encoded_bundles
    from cityops.streams.kafka import INTERNAL_COMPRESSION
    from tests.unit.streams.builders import T0, a_report, an_action

    topic, group = f"bundles-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    new_topic(services.bootstrap, topic, 1)
    bundles = [
        encoded_bundles([a_report(id="r-1")])[0],
        encoded_bundles([a_report(id="r-2"), Tick(T0)])[0],
        encoded_bundles([an_action("accept", "320105001-x", id="a-1")])[0],
    ]

    async def fill() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=services.bootstrap, compression_type=INTERNAL_COMPRESSION
        )
        await producer.start()
        try:
            for value in bundles:
                await (await producer.send(topic, value, partition=0))
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=services.bootstrap, group_id=group)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 0)])
            await consumer.commit({TopicPartition(topic, 0): 1})
        finally:
            await consumer.stop()

    asyncio.run(fill())
    assert asyncio.run(unapplied_ids(services.bootstrap, topic, 1, group)) == {"r-2", "a-1"}
