"""`cityops up --durable`: the broker SIGKILLed while records are being produced, restarted on
the same store, keeps its topics, every acknowledged record and the committed group offsets; the
memory engine loses them. A worker-level run: reports published at a steady rate, the broker
killed mid-stream and restarted, and every acknowledged event ends up in ClickHouse once."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from cityops.bench.loss import run_once
from cityops.deploy import durable
from cityops.deploy import services as svc

TOPIC, COMPACTED, GROUP = "orders", "orders-changelog", "billing"
PARTITIONS = 4


def sigkill(proc: svc.Process) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.popen.wait(10)


def create(bootstrap: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        admin.create_topics(
            [
                NewTopic(TOPIC, PARTITIONS, 1),
                NewTopic(COMPACTED, PARTITIONS, 1, topic_configs={"cleanup.policy": "compact"}),
            ]
        )
    finally:
        admin.close()


async def produce_and_kill(bootstrap: str, broker: svc.Process, n: int, kill_after: int):
    """Sends n records to each topic, SIGKILLs the broker once `kill_after` are acknowledged while
    the rest are in flight, and returns the values the broker acknowledged."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, request_timeout_ms=3000
    )
    await producer.start()
    acked: set[bytes] = set()
    pending = []

    def on_done(value: bytes):
        return lambda f: (not f.cancelled() and f.exception() is None) and acked.add(value)

    try:
        for i in range(n):
            for topic in (TOPIC, COMPACTED):
                value = f"{topic}:{i}".encode()
                future = await producer.send(topic, value, key=f"k{i % 50}".encode())
                future.add_done_callback(on_done(value))
                pending.append(future)
            if i % 200 == 199:
                await asyncio.sleep(0.01)  # let acknowledgements arrive while sending
            if broker.alive() and len(acked) >= kill_after:
                sigkill(broker)
        await asyncio.wait(pending, timeout=20)
    finally:
        try:
            await asyncio.wait_for(producer.stop(), 10)
        except Exception:  # noqa: BLE001 - the broker is dead
            pass
    return acked


async def commit(bootstrap: str, offsets: dict[int, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP)
    await consumer.start()
    try:
        tps = {TopicPartition(TOPIC, p): o for p, o in offsets.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()


async def read_back(bootstrap: str) -> tuple[set[bytes], dict[int, int | None]]:
    """Every value in both topics (read from offset 0 until quiet) and the group's offsets."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=GROUP, enable_auto_commit=False, fetch_max_wait_ms=50
    )
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in (TOPIC, COMPACTED) for p in range(PARTITIONS)]
        committed = {tp.partition: await consumer.committed(tp) for tp in tps[:PARTITIONS]}
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        values: set[bytes] = set()
        quiet = 0
        while quiet < 3:
            batch = await consumer.getmany(timeout_ms=1000)
            quiet = 0 if batch else quiet + 1
            for records in batch.values():
                values.update(r.value for r in records)
        return values, committed
    finally:
        await consumer.stop()


def topics(bootstrap: str) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def kill_restart(tmp_path, start) -> tuple[set[bytes], set[bytes], dict, set[str]]:
    """The scenario on a broker from `start(port)`: topics, group offsets, produce with a kill
    mid-stream, restart with `start(port)`; (acknowledged, read back, committed, topics)."""
    port = svc.free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start(port)
    try:
        create(bootstrap)
        offsets = {0: 3, 1: 5, 2: 7, 3: 11}
        asyncio.run(commit(bootstrap, offsets))
        acked = asyncio.run(produce_and_kill(bootstrap, broker, 5000, kill_after=2000))
        assert not broker.alive()
        broker = start(port)
        names = topics(bootstrap)  # before reading: a consumer's metadata request creates topics
        values, committed = asyncio.run(read_back(bootstrap))
        return acked, values, committed, names
    finally:
        svc.stop(broker)


@pytest.fixture
def store(tmp_path):
    store = durable.start_object_store(tmp_path)
    yield store
    svc.stop(store.proc)
    durable.remove_sockets(tmp_path)


def test_durable_broker_sigkill_keeps_topics_acknowledged_records_and_offsets(tmp_path, store):
    acked, values, committed, names = kill_restart(
        tmp_path, lambda port: durable.start_durable_broker(tmp_path, port, store)
    )
    assert 2000 <= len(acked) < 10_000, "the kill did not come mid-stream"
    assert {TOPIC, COMPACTED} <= names
    missing = acked - values
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:5]}"
    assert committed == {0: 3, 1: 5, 2: 7, 3: 11}


def test_memory_broker_sigkill_loses_topics_records_and_offsets(tmp_path):
    """The default engine, for contrast: what docs/operations.md says it loses."""
    acked, values, committed, names = kill_restart(
        tmp_path, lambda port: svc.start_broker(tmp_path, port)
    )
    assert len(acked) >= 2000
    assert TOPIC not in names and not values & acked
    assert set(committed.values()) == {None}


def test_worker_stores_every_acknowledged_event_across_a_broker_sigkill(services, tmp_path, store):
    """Reports at 300/s for 8 s into a worker; the broker killed, restarted on its store, and
    every event it acknowledged is in ClickHouse."""
    port = svc.free_port()
    bootstrap = f"127.0.0.1:{port}"

    def start():
        return durable.start_durable_broker(tmp_path, port, store), bootstrap

    result = run_once(
        rate=300,
        warmup=8,
        home=tmp_path,
        target=services.clickhouse,
        start_broker=start,
        restart_broker=lambda: start()[0],
    )
    assert result.acked >= 1500, result
    assert result.lost == 0, result


def test_worker_stores_every_acknowledged_event_across_a_20_second_broker_outage(
    services, tmp_path, store
):
    """Reports at 500/s for 6 s; the broker SIGKILLed and left down 20 s (the bridge's and the
    engine's sends fail meanwhile), then restarted on its store: every acknowledged event is in
    ClickHouse. A worker that exits is restarted as `cityops up` would (bench/loss.py)."""
    port = svc.free_port()
    bootstrap = f"127.0.0.1:{port}"

    def start():
        return durable.start_durable_broker(tmp_path, port, store), bootstrap

    result = run_once(
        rate=500,
        warmup=6,
        home=tmp_path,
        target=services.clickhouse,
        start_broker=start,
        restart_broker=lambda: start()[0],
        outage=20,
    )
    assert result.acked >= 2000, result
    assert result.lost == 0, result
