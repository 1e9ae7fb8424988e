"""`cityops bench latency`: steady rates published in real time (the simulator's everyday mix,
valid reports only, ids tagged by key and order), each event's latency from publishing to the poll
(every 50 ms) that first sees its id in ClickHouse, and the cores each process used meanwhile."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import threading
import time
import uuid

import orjson

from cityops.bench.env import BenchEnv
from cityops.bench.events import event_mix, publish_all
from cityops.bench.workers import (
    alive_check,
    cpu_seconds,
    services_cpu,
    start_workers,
    stop_workers,
    stored_count,
)
from cityops.schemas.topics import Topics
from cityops.sdk import DEFAULT_PRODUCER
from cityops.settings import KafkaConnection, kafka_connection
from cityops.storage.client import connect

# Reports are batched as departments' SDK batches them (cityops/sdk.py; docs/performance.md P16).
PUBLISH_LINGER_MS = int(DEFAULT_PRODUCER["linger_ms"])  # type: ignore[call-overload]


def valid_mix(n: int, tag: str) -> list[tuple[bytes, dict]]:
    """Valid reports only (a rejected event never becomes queryable); ids tagged by key and
    order."""
    from cityops.schemas.events import InvalidEvent, parse_event
    from cityops.schemas.registry import load_registry

    registry, now = load_registry(), dt.datetime.now(dt.UTC)
    out, seq = [], 0
    for key, value in event_mix(int(n * 1.2) + 10, seed=11):
        try:
            parse_event(value, now=now, registry=registry)
        except InvalidEvent:
            continue
        body = orjson.loads(value)
        body["id"] = f"{tag}-{key.decode()}-{seq:09d}"
        seq += 1
        out.append((key, body))
        if len(out) == n:
            break
    return out


async def paced_publish(
    bootstrap: KafkaConnection | str, topic: str, items, rate: float, sent_at: dict
) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        **kafka_connection(bootstrap).aiokafka(), linger_ms=PUBLISH_LINGER_MS, acks=1
    )
    await producer.start()
    try:
        start = time.monotonic()
        for i, (key, body) in enumerate(items):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            body["time"] = (
                dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            )
            sent_at[body["id"]] = time.monotonic()
            await producer.send(topic, orjson.dumps(body), key=key)
        await producer.flush()
    finally:
        await producer.stop()


def latency_at(env: BenchEnv, rate: float, seconds: float) -> dict:
    settings, env_vars = env.isolated(f"latency{int(rate)}")
    client = connect(settings.clickhouse)
    topic = Topics(settings.topic_prefix).events
    procs = start_workers(env_vars, 1, settings.home)
    alive = alive_check(procs, settings.home)
    tag = f"lat{uuid.uuid4().hex[:5]}"
    items = valid_mix(int(rate * seconds), tag)
    sent_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    try:
        # Warm-up: a few reports stored end to end before the clock starts (worker start-up).
        warm = valid_mix(20, tag + "w")
        asyncio.run(publish_all(env.bootstrap, topic, [(k, orjson.dumps(b)) for k, b in warm]))
        deadline = time.monotonic() + 120
        while stored_count(client, settings.database, prefix=tag + "w-") < len(warm):
            alive()
            if time.monotonic() > deadline:
                raise TimeoutError("worker did not store the warm-up events within 120 s")
            time.sleep(0.05)
        publisher = threading.Thread(
            target=asyncio.run,
            args=(paced_publish(env.bootstrap, topic, items, rate, sent_at),),
            daemon=True,
        )
        publisher.start()
        measured_from, services_before = time.monotonic(), services_cpu(env)
        workers_before = sum(cpu_seconds(procs))
        # Order per key is kept end to end, so the highest stored id per key covers all before it.
        by_key: dict[str, list[str]] = {}
        for _, body in items:
            by_key.setdefault(body["id"].rsplit("-", 1)[0], []).append(body["id"])
        cursor = {k: 0 for k in by_key}
        deadline = time.monotonic() + seconds + 120
        # The poll reads only rows received since the oldest event not yet seen was published
        # (`received_at` is the record's timestamp, taken at publishing, in whole seconds): a
        # scan of every id of the run, 20 times a second, made ClickHouse's share of the machine
        # grow with the run and slowed what it measured (docs/performance.md M-27).
        wall_offset = time.time() - time.monotonic()
        while len(seen_at) < len(items) and time.monotonic() < deadline:
            polled = time.monotonic()  # a report not yet published is received after this
            unseen = (ids[cursor[k]] for k, ids in by_key.items() if cursor[k] < len(ids))
            oldest = min((sent_at.get(i, polled) for i in unseen), default=polled)
            rows = client.execute(
                "SELECT substring(id, 1, length(id) - 10) AS k, max(id) "
                f"FROM {settings.database}.events "
                "PREWHERE received_at >= toDateTime(%(since)s) "
                "WHERE id LIKE %(p)s GROUP BY k",
                {"p": tag + "-%", "since": int(oldest + wall_offset) - 2},
            )
            now = time.monotonic()
            for key, top in rows:
                ids, i = by_key.get(key, []), cursor.get(key, 0)
                while i < len(ids) and ids[i] <= top:
                    seen_at.setdefault(ids[i], now)
                    i += 1
                cursor[key] = i
            time.sleep(0.05)
        publisher.join(timeout=5)
        # Cores used while measured: the worker (engine + bridge), broker and ClickHouse (this
        # poll included) — whether one of them ran out of CPU.
        elapsed = max(time.monotonic() - measured_from, 1e-6)
        services_after = services_cpu(env)
        cores = {n: (services_after[n] - services_before[n]) / elapsed for n in services_before}
        cores["worker"] = (sum(cpu_seconds(procs)) - workers_before) / elapsed
    finally:
        stop_workers(procs)
        client.disconnect()
    lat = sorted(seen_at[i] - sent_at[i] for i in seen_at if i in sent_at)
    pct = functools.partial(_percentile_ms, lat)

    return {
        "rate": rate,
        "seconds": seconds,
        "events": len(items),
        "stored": len(seen_at),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        # Whether the tail is spread over the run or bunched in a few stalls.
        "p99_ms_per_10s": _windows_p99(sent_at, seen_at, 10.0),
        "cores_used": {name: round(share, 2) for name, share in cores.items()},
    }


def _percentile_ms(sorted_seconds: list[float], q: float) -> float | None:
    if not sorted_seconds:
        return None
    at = min(len(sorted_seconds) - 1, int(q * len(sorted_seconds)))
    return round(sorted_seconds[at] * 1000, 1)


def _windows_p99(sent_at: dict, seen_at: dict, width: float) -> list[float | None]:
    """p99 latency (ms) of the events sent in each `width`-second window of the run."""
    if not sent_at:
        return []
    start = min(sent_at.values())
    windows: dict[int, list[float]] = {}
    for event_id, sent in sent_at.items():
        if event_id in seen_at:
            windows.setdefault(int((sent - start) // width), []).append(seen_at[event_id] - sent)
    count = max(windows, default=-1) + 1
    return [_percentile_ms(sorted(windows.get(w, [])), 0.99) for w in range(count)]


def suite(env: BenchEnv, events=None, quick=False, rates=None) -> dict:
    """Steady rates for 60 s each (quick: 200/s for 10 s); `events` sets the events per rate."""
    rates = rates or ((200,) if quick else (1000, 2000, 5000))
    runs = []
    for rate in rates:
        seconds = events / rate if events else (10 if quick else 60)
        runs.append(latency_at(env, rate, seconds))
    return {
        "runs": runs,
        "method": "publish time to the poll (every 50 ms) that first sees the id in ClickHouse",
    }
