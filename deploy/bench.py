"""`cityops bench NAME`: benchmarks that start what they need, measure side by side in one run and
write JSON results (machine, versions, date) under bench/results/.

Throughput method (pipeline and baseline alike, one after the other in the same run, each on its
own topic and database): N events are published up front; the consumer starts; polling count()
every 20 ms, t0 is the first poll that sees any event stored, t1 the poll that sees all N (stored
or, for the pipeline, rejected); rate = (N - stored at t0) / (t1 - t0). Start-up time is thereby
excluded for both sides without fixed sleeps; the first insert's events are not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from deploy import services as svc
from deploy.settings import KafkaConnection, Settings, kafka_connection
from storage.client import ClickHouseTarget, connect, migrate

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"


@dataclass
class BenchEnv:
    bootstrap: KafkaConnection | str
    clickhouse: ClickHouseTarget
    home: Path
    partitions: int
    # The embedded broker and ClickHouse this run started, by name (their CPU is measured too).
    services: dict = field(default_factory=dict)

    def isolated(self, name: str, partitions: int | None = None) -> tuple[Settings, dict[str, str]]:
        """Own topics and database for one measured run."""
        from deploy.stack import all_topics

        token = f"{name}_{uuid.uuid4().hex[:8]}"
        target = self.clickhouse.with_database(f"bench_{token}")
        client = connect(target, database=False)
        migrate(client, target.database)
        client.disconnect()
        settings = Settings(
            home=self.home / token,
            **kafka_connection(self.bootstrap).settings_fields(),
            clickhouse_url=target.url(),
            topic_prefix=f"bench.{token}.",
            partitions=partitions or self.partitions,
            database=target.database,
        )
        settings.home.mkdir(parents=True, exist_ok=True)
        svc.create_topics(self.bootstrap, all_topics(settings), settings.partitions)
        return settings, {**os.environ, **svc.worker_env(settings)}


@contextlib.contextmanager
def bench_services(settings: Settings):
    """The broker and ClickHouse for a benchmark: external ones when configured, else embedded."""
    home = Path(tempfile.mkdtemp(prefix="cityops-bench-"))
    started = {}
    try:
        # An external broker is reached with the configured security settings.
        bootstrap: KafkaConnection | str | None = (
            settings.kafka if settings.kafka_bootstrap else None
        )
        if not bootstrap:
            port = svc.free_port()
            started["broker"] = svc.start_broker(home, port)
            bootstrap = f"127.0.0.1:{port}"
        if settings.clickhouse_url:
            target = settings.clickhouse
        else:
            tcp = svc.free_port()
            started["clickhouse"] = svc.start_clickhouse(home, tcp, svc.free_port())
            target = ClickHouseTarget(port=tcp)
        yield BenchEnv(bootstrap, target, home, settings.partitions, started)
    finally:
        for proc in reversed(list(started.values())):
            svc.stop(proc)


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from importlib.metadata import version

    versions = {}
    for pkg in (
        "faust-streaming",
        "aiokafka",
        "kafka-python",
        "clickhouse-driver",
        "msgspec",
        "rocksdict",
        "dash",
    ):
        with contextlib.suppress(Exception):
            versions[pkg] = version(pkg)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def write_result(name: str, result: dict, directory: Path | None = None) -> Path:
    """bench/results/<name>.json: the result with the machine (CPU, cores, versions, date)."""
    directory = directory or RESULTS
    directory.mkdir(parents=True, exist_ok=True)
    payload = {"bench": name, "machine": machine(), **result}
    path = directory / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False))
    return path


# -- event mix ----------------------------------------------------------------------------------


def event_mix(n: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs of realistic structured CloudEvents from the simulator's generator."""
    import orjson

    from streams.publish.simulator.run import generate

    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    pairs = []
    for event in generate(seed, "normal", start, n):
        body = event if isinstance(event, dict) else json.loads(event)
        key = (
            body.get("partitionkey") or body["data"].get("location", {}).get("district", "")
        ).encode()
        pairs.append((key, orjson.dumps(body)))
    return pairs


def sample_reports(
    n: int, seed: int = 7, *, start: dt.datetime | None = None, run: str = "bench"
) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs of n city.report.v1 CloudEvents over random micro-grids and categories
    (ids `<run>-<i>`), for the engine's integration tests."""
    import random

    import orjson

    from schemas.registry import load_registry
    from schemas.taxonomy import CATEGORIES

    rng = random.Random(seed)
    registry = load_registry()
    micro_grids = [u.code for u in registry.units("micro_grid")]
    categories = sorted(CATEGORIES)
    channels = ["hotline", "grid_patrol", "app", "video"]
    start = start or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
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
            "time": (start + dt.timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z"),
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


async def publish_all(
    bootstrap: KafkaConnection | str, topic: str, pairs: list[tuple[bytes, bytes]]
) -> float:
    """Publishes every (key, value) and waits for the broker's acknowledgements; seconds taken."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        **kafka_connection(bootstrap).aiokafka(), linger_ms=20, max_batch_size=1 << 20, acks=1
    )
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for key, value in pairs:
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


def stored_count(client, database: str, table: str = "events", prefix: str | None = None) -> int:
    if prefix is None:
        rows = client.execute(f"SELECT uniqExact(id) FROM {database}.{table}")
    else:
        rows = client.execute(
            f"SELECT uniqExact(id) FROM {database}.{table} WHERE id LIKE %(p)s", {"p": prefix + "%"}
        )
    return int(rows[0][0])


def rejected_count(client, database: str) -> int:
    return int(client.execute(f"SELECT uniqExact(reject_id) FROM {database}.rejected_events")[0][0])


def measure(
    client,
    database: str,
    n: int,
    table: str,
    deadline_s: float,
    with_rejects: bool,
    alive=None,
    on_start=None,
) -> dict:
    """Poll (every 20 ms, count() is cheap at any size) until all n events are queryable.

    t0 is the first poll that sees any of them stored (the consumer is past start-up), t1 the
    poll that sees all n; rate = (n - stored at t0) / (t1 - t0). See the module docstring.
    """
    start = time.monotonic()

    def total() -> int:
        done = int(client.execute(f"SELECT count() FROM {database}.{table}")[0][0])
        if with_rejects:
            done += int(client.execute(f"SELECT count() FROM {database}.rejected_events")[0][0])
        return done

    done = 0
    t0 = at_t0 = None
    while done < n:
        if alive is not None:
            alive()
        if time.monotonic() - start > deadline_s:
            raise TimeoutError(f"only {done} of {n} events stored within {deadline_s:.0f} s")
        time.sleep(0.02)
        done = total()
        if t0 is None and done > 0:
            t0, at_t0 = time.monotonic(), done
            if on_start is not None:
                on_start()
    t1 = time.monotonic()
    t0 = t0 if t0 is not None else t1
    at_t0 = at_t0 or 0
    return {
        "seconds": round(t1 - t0, 3),
        "stored_at_start": at_t0,
        "eps": round((n - at_t0) / (t1 - t0), 1) if t1 > t0 else None,
    }


def print_table(name: str, result: dict) -> None:
    print(f"{name}")
    for key, value in result.items():
        if isinstance(value, dict):
            inner = ", ".join(
                f"{k}={v}" for k, v in value.items() if not isinstance(v, (dict, list))
            )
            print(f"  {key:22} {inner}")
        elif key != "machine":
            print(f"  {key:22} {value}")


def run_bench(
    settings: Settings,
    name: str,
    *,
    as_json: bool,
    events: int | None,
    quick: bool,
    rates: tuple[float, ...] | None = None,
    profile: bool = False,
) -> int:
    from deploy import bench_suites as suites

    names = list(suites.SUITES) if name == "all" else [name]
    with bench_services(settings) as env:
        for one in names:
            options: dict = {"rates": rates} if one == "latency" and rates else {}
            if one == "throughput" and profile:
                options["profile"] = True
            result = suites.SUITES[one](env, events=events, quick=quick, **options)
            path = write_result(one, result)
            if as_json:
                print(json.dumps(result))
            else:
                print_table(one, result)
                print(f"  written to {path}")
    return 0
