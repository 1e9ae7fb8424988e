"""The intake bridge when its bundles are not acknowledged, against real brokers: a step whose
send fails (its producer's broker SIGKILLed) must not let the read position or the committed
offset of city.events pass that step's events; the next successful step bundles every one."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cityops.bench.events import publish_all, sample_reports
from cityops.deploy import services as svc
from cityops.schemas.registry import load_registry
from cityops.streams.clock import Clock
from cityops.streams.incidents.model import Bundle, ReportIn
from cityops.streams.intake import Bridge
from cityops.topics_admin import create_topics

PARTITIONS = 4
EVENTS = 400


async def bundled_ids(bootstrap: str, topic: str) -> set[str]:
    """The report ids in every bundle of `topic`, read from offset 0 until quiet."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        decoder = msgspec.msgpack.Decoder(Bundle)
        ids: set[str] = set()
        quiet = 0
        while quiet < 3:
            batch = await consumer.getmany(timeout_ms=500)
            quiet = 0 if batch else quiet + 1
            for records in batch.values():
                for record in records:
                    items = decoder.decode(record.value).items
                    ids.update(i.id for i in items if isinstance(i, ReportIn))
        return ids
    finally:
        await consumer.stop()


async def scenario(bootstrap: str, dead: AIOKafkaProducer, source: str, bundles: str, run: str):
    bridge = Bridge(
        bootstrap=bootstrap,
        source=source,
        bundles=bundles,
        group=f"{run}-intake",
        partitions=PARTITIONS,
        clock=Clock(),
        registry=load_registry(),
        tick_seconds=3600.0,
        linger=0,
    )
    consumer = bridge.consumer()
    await consumer.start()
    live = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await live.start()
    tps = [TopicPartition(source, p) for p in range(PARTITIONS)]
    try:
        # Steps against the dead broker until one held events (the group join takes seconds).
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "the bridge never fetched an event"
            try:
                await bridge._step(consumer, dead)
            except Exception:  # noqa: BLE001 - the send to the dead broker failed
                break
        for tp in tps:
            assert await consumer.committed(tp) is None, "committed past unsent events"
        for tp in consumer.assignment():
            assert await consumer.position(tp) == 0, f"{tp}: read position past unsent events"
        # The broker is back (here: a producer that reaches one): the next steps send them all.
        deadline = time.monotonic() + 60
        while sum([await consumer.committed(tp) or 0 for tp in tps]) < EVENTS:
            assert time.monotonic() < deadline, "the bridge did not commit every event"
            await bridge._step(consumer, live)
    finally:
        await live.stop()
        await consumer.stop()


def test_a_step_whose_send_fails_is_sent_again_and_nothing_is_committed_past_it(services, tmp_path):
    run = f"b{uuid.uuid4().hex[:8]}"
    source, bundles = f"{run}.city.events", f"{run}.bundles"
    create_topics(services.bootstrap, [source, bundles], PARTITIONS)
    pairs = sample_reports(EVENTS, seed=11, run=run)
    asyncio.run(publish_all(services.bootstrap, source, pairs))

    port = svc.free_port()
    other = svc.start_broker(tmp_path, port)
    try:
        create_topics(f"127.0.0.1:{port}", [bundles], PARTITIONS)

        async def main() -> None:
            dead = AIOKafkaProducer(
                bootstrap_servers=f"127.0.0.1:{port}", acks="all", request_timeout_ms=2000
            )
            await dead.start()
            await dead.send_and_wait(bundles, b"warm", partition=0)  # metadata known
            os.killpg(other.pid, signal.SIGKILL)
            if other.popen is not None:
                other.popen.wait(10)
            try:
                await scenario(services.bootstrap, dead, source, bundles, run)
            finally:
                try:
                    await asyncio.wait_for(dead.stop(), 10)
                except Exception:  # noqa: BLE001 - its broker is dead
                    pass

        asyncio.run(main())
    finally:
        svc.stop(other)
    ids = asyncio.run(bundled_ids(services.bootstrap, bundles))
    missing = {f"{run}-{i}" for i in range(EVENTS)} - ids
    assert not missing, f"{len(missing)} events never bundled, e.g. {sorted(missing)[:5]}"
