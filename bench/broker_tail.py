"""The broker alone under a steady load: does its CPU grow with the length of the log that
consumers tail? (docs/performance.md M-25)

    python -m cityops.bench.broker_tail --rate 1000 --seconds 150 --consumers 1

Starts the embedded broker, one topic of 8 partitions, a producer paced at `rate` (600-byte
values, linger 5 ms unless `--linger-ms`) and `consumers` tailing consumer groups (fetch wait
50 ms, as the worker's), and prints the broker's CPU in cores per 15-s window with what the
consumers read so far.
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

TOPIC = "tail"
VALUE = b"x" * 600
WINDOW = 15.0


async def _produce(bootstrap: str, rate: float, linger_ms: int, stop: asyncio.Event) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms, acks=1)
    await producer.start()
    try:
        began, sent = time.monotonic(), 0
        while not stop.is_set():
            due = int((time.monotonic() - began) * rate)
            while sent < due:
                await producer.send(TOPIC, VALUE, key=str(sent % 97).encode())
                sent += 1
            await asyncio.sleep(0.005)
    finally:
        await producer.stop()


async def _tail(bootstrap: str, group: str, min_bytes: int, read: list[int], stop) -> None:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=group,
        fetch_max_wait_ms=50,
        fetch_min_bytes=min_bytes,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            read[0] += sum(len(records) for records in batch.values())
    finally:
        await consumer.stop()


async def measure(
    bootstrap: str,
    pid: int,
    rate: float,
    seconds: float,
    consumers: int,
    min_bytes: int,
    linger_ms: int = 5,
) -> list[dict]:
    stop, read = asyncio.Event(), [0]
    tasks = [asyncio.create_task(_produce(bootstrap, rate, linger_ms, stop))]
    tasks += [
        asyncio.create_task(_tail(bootstrap, f"tail-{n}", min_bytes, read, stop))
        for n in range(consumers)
    ]
    broker = psutil.Process(pid)
    windows: list[dict] = []
    began = last_at = time.monotonic()
    last = sum(broker.cpu_times()[:2])
    try:
        while time.monotonic() - began < seconds:
            await asyncio.sleep(WINDOW)
            now, cpu = time.monotonic(), sum(broker.cpu_times()[:2])
            windows.append(
                {
                    "t": round(now - began),
                    "broker_cores": round((cpu - last) / (now - last_at), 2),
                    "read": read[0],
                }
            )
            print(f"  t={windows[-1]['t']:>4} s  broker {windows[-1]['broker_cores']:.2f} cores"
                  f"  read {read[0]:,}", flush=True)  # fmt: skip
            last, last_at = cpu, now
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return windows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cityops.bench.broker_tail")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--consumers", type=int, default=1)
    parser.add_argument("--min-bytes", type=int, default=1, help="the consumers' fetch_min_bytes")
    parser.add_argument("--linger-ms", type=int, default=5, help="the producer's linger")
    args = parser.parse_args(argv)
    if (
        args.rate <= 0
        or args.seconds < WINDOW
        or args.consumers < 0
        or args.min_bytes < 1
        or args.linger_ms < 0
    ):
        parser.error(
            "--rate > 0, --seconds >= 15, --consumers >= 0, --min-bytes >= 1 and --linger-ms >= 0"
        )
    from kafka.admin import KafkaAdminClient, NewTopic

    home = Path(tempfile.mkdtemp(prefix="cityops-broker-tail-"))
    (home / "logs").mkdir()
    port = svc.free_port()
    broker = svc.start_broker(home, port)
    try:
        bootstrap = f"127.0.0.1:{port}"
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        admin.create_topics([NewTopic(TOPIC, 8, 1)])
        admin.close()
        print(
            f"broker tail: {args.rate:g}/s, {args.consumers} consumer(s),"
            f" linger {args.linger_ms} ms"
        )
        asyncio.run(
            measure(
                bootstrap,
                broker.pid,
                args.rate,
                args.seconds,
                args.consumers,
                args.min_bytes,
                args.linger_ms,
            )
        )
    finally:
        svc.stop(broker)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
