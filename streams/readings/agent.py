"""The Faust side of early warning: the rule-state and feed tables (changelog-backed, keyed per
(department, sensor, rule) and per department) and the agent that feeds readings bundles to the
ReadingsEngine. Commit order, per batch of bundles: readings rows stored in ClickHouse → alarm
reports sent to city.events and acknowledged → changelog records sent → table values installed →
bundles acked. A crash anywhere re-delivers bundles from the last acked state, and the alarms
decided again carry the same ids (the incident engine applies each once).
"""

from __future__ import annotations

import asyncio
import logging
import time

import faust
import msgspec
from aiokafka import AIOKafkaProducer

from cityops.schemas.topics import Topics
from cityops.settings import Settings
from cityops.storage.writer import ClickHouseWriter
from cityops.streams.clock import Clock
from cityops.streams.faust_patches import forget_acks
from cityops.streams.incidents.agent import BundleOrder, deliver, release_held, ripe
from cityops.streams.incidents.store import FaustStore
from cityops.streams.kafka import Outbox, partition_for, producer
from cityops.streams.readings.engine import (
    FEED_CODEC_TYPE,
    STATE_CODEC_TYPE,
    ReadingsEngine,
    codec,
    feed_partition,
    state_partition,
)
from cityops.streams.readings.model import ReadingBundle
from cityops.streams.readings.rules import RuleSet

log = logging.getLogger(__name__)
_bundle = msgspec.msgpack.Decoder(ReadingBundle)
MAX_UNACKED = 100  # bundles applied before a commit is forced


def _table(app: faust.App, name: str, partitions: int):
    changelog = app.topic(
        f"{app.conf.id}-{name}-changelog",
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
        internal=True,
        compacting=True,
        acks=False,
        allow_empty=True,
    )
    return app.Table(name, partitions=partitions, default=None, changelog_topic=changelog)


class ReadingsRuntime:
    def __init__(self, app: faust.App, settings: Settings, rules: RuleSet, clock: Clock) -> None:
        self.app, self.settings = app, settings
        self.topics = Topics(settings.topic_prefix)
        partitions = settings.partitions
        self.states_table = _table(app, "rule_states", partitions)
        self.feeds_table = _table(app, "feeds", partitions)
        self.states = FaustStore(
            self.states_table, codec(STATE_CODEC_TYPE), state_partition(partitions)
        )
        self.feeds = FaustStore(
            self.feeds_table, codec(FEED_CODEC_TYPE), feed_partition(partitions)
        )
        self.engine = ReadingsEngine(self.states, self.feeds, rules, partitions, clock)
        self.writer = ClickHouseWriter(settings.clickhouse, max_delay=settings.flush_seconds)
        self.lock = asyncio.Lock()
        self.unacked: list = []
        self.stream: faust.StreamT | None = None
        self.kafka: AIOKafkaProducer | None = None
        self.order = BundleOrder(name="readings")
        self.alarms_sent = 0

    async def start(self) -> None:
        self.kafka = producer(self.settings.kafka, f"{self.settings.topic_prefix}readings")
        await self.kafka.start()

    async def on_bundle(self, event) -> None:
        while self.kafka is None:  # the producer starts with the app's intake task
            await asyncio.sleep(0.05)
        for each in await deliver(self.order, self.app.consumer, event.message, event):
            await self._apply(each)

    async def _apply(self, event) -> None:
        message = event.message
        bundle = _bundle.decode(event.value)
        async with self.lock:
            self.engine.apply(message.partition, bundle.items)
            self.unacked.append(event)
            if self.writer.due() or len(self.unacked) >= MAX_UNACKED or self.engine.alarms:
                await self._commit()

    async def apply_ripe(self) -> None:
        """Applies the held bundles the committed offsets now allow (`BundleOrder.ripe`)."""
        for each in ripe(self.order, self.app.consumer, self.topics.readings):
            await self._apply(each)

    async def commit_if_due(self) -> None:
        async with self.lock:
            if self.unacked:
                await self._commit()

    async def settle(self) -> None:
        """Stores and acks everything applied (before a rebalance or a stop goes on)."""
        if self.kafka is None:
            return
        await self.commit_if_due()

    async def _commit(self) -> None:
        """Under `self.lock`: readings stored → alarms sent → changelogs sent → install → ack."""
        engine = self.engine
        for row in engine.rows:
            self.writer.add("readings", row)
        for row in engine.feed_rows:
            self.writer.add("feed_states", row)
        engine.rows, engine.feed_rows = [], []
        alarms, engine.alarms = engine.alarms, []
        states, feeds = engine.take()
        events, self.unacked = self.unacked, []
        batch = self.writer.detach()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.writer.flush, batch)
        if alarms:
            outbox = Outbox(self.settings.max_message_bytes)
            topic = self.topics.events
            for key, value in alarms:
                outbox.add(topic, partition_for(key, self.settings.partitions), key, value)
            await outbox.send(self.kafka)
            self.alarms_sent += len(alarms)
            log.info("early warning: %d alarm reports published", len(alarms))
        outbox = Outbox(self.settings.max_message_bytes)
        for partition, items in states.items():
            self.states.changelog(outbox, partition, items)
        for partition, items in feeds.items():
            self.feeds.changelog(outbox, partition, items)
        await outbox.send(self.kafka)
        for partition, items in states.items():
            self.states.install(partition, items)
        for partition, items in feeds.items():
            self.feeds.install(partition, items)
        generation = self.app.consumer_generation_id
        for event in events:
            if event.message.generation_id in (None, generation):
                assert self.stream is not None
                await self.stream.ack(event)


def attach_readings(
    app: faust.App, settings: Settings, rules: RuleSet, clock: Clock
) -> ReadingsRuntime:
    """Declares the early-warning tables and agent on `app`; returns their runtime."""
    runtime = ReadingsRuntime(app, settings, rules, clock)
    topic = app.topic(
        runtime.topics.readings,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )

    @app.agent(topic, concurrency=1, name="readings")
    async def readings(stream):
        runtime.stream = stream.noack()
        async for event in runtime.stream.events():
            try:
                await runtime.on_bundle(event)
            except Exception:
                log.exception("readings agent failed on a bundle; stopping the worker")
                raise

    @app.timer(interval=settings.flush_seconds)
    async def readings_flush():
        if runtime.kafka is None:
            return
        started = time.monotonic()
        await runtime.apply_ripe()
        await runtime.commit_if_due()
        if time.monotonic() - started > 5:
            log.warning("readings commit took %.1f s", time.monotonic() - started)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(app, assigned, **kwargs):
        release_held(runtime.order, app.consumer)  # they come again from the new positions
        forget_acks(app.consumer, [tp for tp in assigned if tp.topic == runtime.topics.readings])
        runtime.states.forget()
        runtime.feeds.forget()

    return runtime
