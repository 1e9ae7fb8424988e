"""How fast a consumer behind its log reads it back, by fetch max wait (docs/operations.md,
"Why the durable broker crawled").

    python -m cityops.bench.backlog_read [--durable] [--events 8000] [--wait 50 --wait 500]

Starts the embedded broker (with `--durable`: Tansu's object-store engine over SeaweedFS) on a
temp home, writes `events` 300-byte records to 4 partitions one per batch (a producer sending
each record alone, as a department's publisher does at a low rate), then for each wait reads
the whole topic from offset 0 with one aiokafka consumer and reports records per second, the
records of the first fetch, and the broker's (and store's) CPU in cores. Results:
bench/results/backlog-read[-durable].json.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import psutil

from cityops.deploy import services as svc

TOPIC = "backlog"
PARTITIONS = 4
VALUE = b"x" * 300
READ_LIMIT = 120.0  # seconds one read may take at most


async def _produce(bootstrap: str, events: int) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
    await producer.start()
    try:
        for i in range(events):  # awaited one by one: one record per batch
            await (await producer.send(TOPIC, VALUE, partition=i % PARTITIONS))
    finally:
        await producer.stop()


def _cpu(procs: list[psutil.Process]) -> float:
    return sum(p.cpu_times().user + p.cpu_times().system for p in procs)


async def read_back(bootstrap: str, wait_ms: int, events: int, procs) -> dict:
    """Reads the topic from offset 0 until `events` records or READ_LIMIT seconds."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=wait_ms,
        request_timeout_ms=int(READ_LIMIT * 1000),
    )
    await consumer.start()
    try:
        tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        cpu, began = _cpu(procs), time.monotonic()
        read, first = 0, None
        while read < events and time.monotonic() - began < READ_LIMIT:
            batch = await consumer.getmany(timeout_ms=1000)
            got = sum(len(records) for records in batch.values())
            if first is None and got:
                first = got
            read += got
        seconds = time.monotonic() - began
        return {
            "wait_ms": wait_ms,
            "read": read,
            "seconds": round(seconds, 1),
            "per_second": round(read / seconds),
            "first_fetch_records": first,
            "broker_cores": round((_cpu(procs) - cpu) / seconds, 2),
        }
    finally:
        await consumer.stop()


def measure(durable: bool, events: int, waits: list[int]) -> dict:
    home = Path(tempfile.mkdtemp(prefix="cityops-backlog-"))
    port = svc.free_port()
    bootstrap = f"127.0.0.1:{port}"
    started: list[svc.Process] = []
    try:
        if durable:
            from cityops.deploy import durable as store

            objects = store.start_object_store(home)
            started.append(objects.proc)
            started.append(store.start_durable_broker(home, port, objects))
        else:
            started.append(svc.start_broker(home, port))
        from cityops.topics_admin import create_topics

        create_topics(bootstrap, [TOPIC], PARTITIONS)
        began = time.monotonic()
        asyncio.run(_produce(bootstrap, events))
        produced = time.monotonic() - began
        procs = [psutil.Process(p.pid) for p in started]
        rows = [asyncio.run(read_back(bootstrap, wait, events, procs)) for wait in waits]
        return {
            "broker": "durable" if durable else "memory",
            "events": events,
            "partitions": PARTITIONS,
            "produce_seconds": round(produced, 1),
            "reads": rows,
        }
    finally:
        for proc in reversed(started):
            svc.stop(proc)
        if durable:
            from cityops.deploy import durable as store

            store.remove_sockets(home)
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cityops.bench.backlog_read")
    parser.add_argument("--durable", action="store_true")
    parser.add_argument("--events", type=int, default=8000)
    parser.add_argument("--wait", type=int, action="append", help="fetch max wait, ms")
    args = parser.parse_args(argv)
    if args.events < PARTITIONS or any(w < 0 for w in args.wait or []):
        parser.error(f"--events must be at least {PARTITIONS} and --wait not negative")
    from cityops.bench.env import write_result

    result = measure(args.durable, args.events, args.wait or [50, 500, 1000])
    for row in result["reads"]:
        print(
            f"wait {row['wait_ms']:>5} ms: {row['read']:>6} read in {row['seconds']:>6} s "
            f"= {row['per_second']:>6}/s, first fetch {row['first_fetch_records']}, "
            f"broker {row['broker_cores']} cores"
        )
    name = "backlog-read-durable" if args.durable else "backlog-read"
    print(f"  written to {write_result(name, result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
