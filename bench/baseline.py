"""The bare baseline of the throughput suite: aiokafka getmany -> json.loads -> clickhouse-driver
insert, nothing else, timed as the pipeline is (bench/workers.py, `measure`)."""

from __future__ import annotations

import asyncio
import threading
import time

from cityops.bench.env import BenchEnv
from cityops.bench.events import publish_all
from cityops.bench.workers import measure, per_event, services_cpu
from cityops.schemas.topics import Topics
from cityops.settings import KafkaConnection, kafka_connection
from cityops.storage.client import connect

BASELINE_TABLE = """
CREATE TABLE IF NOT EXISTS {db}.baseline_events (
    id String, type String, source String, time String, partitionkey String, payload String
) ENGINE = MergeTree ORDER BY id
"""


async def baseline_loop(
    bootstrap: KafkaConnection | str, topic: str, target, database: str, stop: threading.Event
):
    """The bare baseline: aiokafka getmany -> json.loads -> clickhouse-driver insert, nothing
    else."""
    import json

    from aiokafka import AIOKafkaConsumer, TopicPartition

    client = connect(target)
    consumer = AIOKafkaConsumer(
        **kafka_connection(bootstrap).aiokafka(),
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 << 20,
        fetch_max_bytes=32 << 20,
    )
    await consumer.start()
    try:
        await consumer.topics()  # fetch metadata
        parts = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        rows = []
        last = time.monotonic()
        insert = (
            f"INSERT INTO {database}.baseline_events "
            "(id, type, source, time, partitionkey, payload) VALUES"
        )
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            for records in batches.values():
                for record in records:
                    body = json.loads(record.value)
                    rows.append(
                        (
                            body.get("id", ""),
                            body.get("type", ""),
                            body.get("source", ""),
                            body.get("time", ""),
                            body.get("partitionkey") or "",
                            record.value.decode(),
                        )
                    )
            if rows and (len(rows) >= 5000 or time.monotonic() - last > 0.2):
                await asyncio.get_running_loop().run_in_executor(None, client.execute, insert, rows)
                rows = []
                last = time.monotonic()
    finally:
        await consumer.stop()
        client.disconnect()


def run_baseline(env: BenchEnv, pairs) -> dict:
    settings, _ = env.isolated("baseline")
    client = connect(settings.clickhouse)
    client.execute(BASELINE_TABLE.format(db=settings.database))
    topic = Topics(settings.topic_prefix).events
    asyncio.run(publish_all(env.bootstrap, topic, pairs))
    stop = threading.Event()
    thread = threading.Thread(
        target=asyncio.run,
        daemon=True,
        args=(baseline_loop(env.bootstrap, topic, settings.clickhouse, settings.database, stop),),
    )
    thread.start()
    try:
        before = services_cpu(env)
        result = measure(
            client,
            settings.database,
            len(pairs),
            "baseline_events",
            deadline_s=600,
            with_rejects=False,
        )
        result["services_cpu_us_per_event"] = per_event(env, before, len(pairs), result)
    finally:
        stop.set()
        thread.join(timeout=30)
        client.disconnect()
    return result
