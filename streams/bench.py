"""Throughput of the whole pipeline on this machine: publish N realistic reports up front, start
one worker, time until every event id is queryable in ClickHouse. `cityops bench throughput`
wraps it; `python -m streams.bench --events N` runs it on its own services.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from deploy.settings import Settings
from schemas.registry import load_registry
from schemas.taxonomy import CATEGORIES
from schemas.topics import Topics
from storage.client import connect


def sample_reports(
    n: int, seed: int = 7, *, start: datetime | None = None, run: str = "bench"
) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs of realistic city.report.v1 CloudEvents (structured JSON)."""
    rng = random.Random(seed)
    registry = load_registry()
    micro_grids = [u.code for u in registry.units("micro_grid")]
    categories = sorted(CATEGORIES)
    channels = ["hotline", "grid_patrol", "app", "video"]
    start = start or datetime.now(UTC) - timedelta(minutes=30)
    out = []
    for i in range(n):
        micro = rng.choice(micro_grids)
        category = CATEGORIES[rng.choice(categories)]
        location = {
            "district": micro[:6],
            "street": micro[:9],
            "community": micro[:12],
            "grid": micro[:14],
            "micro_grid": micro,
        }
        if rng.random() < 0.3:
            lat, lon = registry.point(micro)
            location.update(lat=lat, lon=lon)
        event = {
            "specversion": "1.0",
            "id": f"{run}-{i}",
            "source": "/departments/hotline12345",
            "type": "city.report.v1",
            "time": (start + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z"),
            "partitionkey": micro[:9],
            "datacontenttype": "application/json",
            "data": {
                "channel": rng.choice(channels),
                "category": category.code,
                "severity": category.default_severity,
                "title": category.name_zh,
                "location": location,
                "external_ref": f"12345-{i:08d}",
                "description": "市民来电反映" + category.name_zh,
            },
        }
        out.append((micro[:9].encode(), orjson.dumps(event)))
    return out


async def publish(bootstrap: str, topic: str, pairs: list[tuple[bytes, bytes]]) -> float:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024, acks="all"
    )
    await producer.start()
    started = time.monotonic()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in pairs]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.monotonic() - started


def start_worker(settings: Settings, env: dict[str, str], log: Path) -> subprocess.Popen:
    """A real worker process (`python -m streams worker`) with `settings` as CITYOPS_* variables."""
    variables = {**os.environ, **env, **settings_env(settings)}
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "streams", "worker"],
            env=variables,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def settings_env(settings: Settings) -> dict[str, str]:
    env = {
        "CITYOPS_HOME": str(settings.home),
        "CITYOPS_KAFKA_BOOTSTRAP": settings.bootstrap,
        "CITYOPS_CLICKHOUSE_URL": settings.clickhouse.url(),
        "CITYOPS_TOPIC_PREFIX": settings.topic_prefix,
        "CITYOPS_PARTITIONS": str(settings.partitions),
        "CITYOPS_DATABASE": settings.database,
        "CITYOPS_CLOCK_SPEED": str(settings.clock_speed),
        "CITYOPS_TICK_SECONDS": str(settings.tick_seconds),
        "CITYOPS_FLUSH_SECONDS": str(settings.flush_seconds),
    }
    if settings.clock_epoch is not None:
        env["CITYOPS_CLOCK_EPOCH"] = repr(settings.clock_epoch)
    return env


def stored_events(client, database: str) -> int:
    return client.execute(f"SELECT uniqExact(id) FROM {database}.events")[0][0]


def run_pipeline_bench(
    settings: Settings, events: int = 100_000, *, timeout: float = 900, profile: str | None = None
) -> dict:
    """Publishes `events` reports, starts one worker, waits until all are in ClickHouse.

    `settings` must name an empty database (migrated) and fresh topics. Returns events/s measured
    from the first stored event to the last (worker start-up excluded) and end to end."""
    pairs = sample_reports(events)
    publish_s = asyncio.run(
        publish(settings.bootstrap, Topics(settings.topic_prefix).events, pairs)
    )
    log = settings.home / "logs" / "bench-worker.log"
    env = {}
    argv_prefix = None
    if profile:
        argv_prefix = profile
    started = time.monotonic()
    proc = start_worker(settings, env, log) if not argv_prefix else None
    client = connect(settings.clickhouse)
    first_at = None
    first_count = 0
    try:
        deadline = started + timeout
        count = 0
        while time.monotonic() < deadline:
            count = stored_events(client, settings.database)
            if count and first_at is None:
                first_at, first_count = time.monotonic(), count
            if count >= events:
                break
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}; see {log}")
            time.sleep(0.2)
        done = time.monotonic()
    finally:
        client.disconnect()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    steady = (count - first_count) / (done - first_at) if first_at and done > first_at else 0.0
    return {
        "events": events,
        "stored": count,
        "publish_s": round(publish_s, 2),
        "total_s": round(done - started, 2),
        "pipeline_eps": round(steady),
        "end_to_end_eps": round(count / (done - started)),
        "worker_log": str(log),
    }


def main(argv: list[str]) -> int:
    import argparse
    import json
    import tempfile
    import uuid

    from deploy import services as svc
    from deploy.stack import all_topics
    from storage.client import ClickHouseTarget, migrate

    parser = argparse.ArgumentParser(prog="python -m streams.bench")
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="cityops-bench-"))
    procs = []
    try:
        port, tcp, http = svc.free_port(), svc.free_port(), svc.free_port()
        procs.append(svc.start_broker(home, port))
        procs.append(svc.start_clickhouse(home, tcp, http))
        token = uuid.uuid4().hex[:8]
        target = ClickHouseTarget(port=tcp, database=f"bench_{token}")
        client = connect(target, database=False)
        migrate(client, target.database)
        client.disconnect()
        settings = Settings(
            home=home,
            kafka_bootstrap=f"127.0.0.1:{port}",
            clickhouse_url=target.url(),
            topic_prefix=f"b{token}.",
            partitions=4,
            database=target.database,
        )
        svc.create_topics(settings.bootstrap, all_topics(settings), settings.partitions)
        print(json.dumps(run_pipeline_bench(settings, args.events)))
    finally:
        for proc in reversed(procs):
            svc.stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
