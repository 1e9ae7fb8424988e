"""The benchmark suites behind `cityops bench`: each returns a result dict for deploy.bench."""

from __future__ import annotations

import asyncio
import functools
import subprocess
import sys
import threading
import time
import uuid

import orjson
import psutil

from deploy import bench
from deploy.settings import kafka_connection
from schemas.topics import Topics
from storage.client import connect

BASELINE_TABLE = """
CREATE TABLE IF NOT EXISTS {db}.baseline_events (
    id String, type String, source String, time String, partitionkey String, payload String
) ENGINE = MergeTree ORDER BY id
"""


async def baseline_loop(bootstrap: str, topic: str, target, database: str, stop: threading.Event):
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


def run_baseline(env: bench.BenchEnv, pairs) -> dict:
    settings, _ = env.isolated("baseline")
    client = connect(settings.clickhouse)
    client.execute(BASELINE_TABLE.format(db=settings.database))
    topic = Topics(settings.topic_prefix).events
    asyncio.run(bench.publish_all(env.bootstrap, topic, pairs))
    stop = threading.Event()
    thread = threading.Thread(
        target=asyncio.run,
        daemon=True,
        args=(baseline_loop(env.bootstrap, topic, settings.clickhouse, settings.database, stop),),
    )
    thread.start()
    try:
        before = _services_cpu(env)
        result = bench.measure(
            client,
            settings.database,
            len(pairs),
            "baseline_events",
            deadline_s=600,
            with_rejects=False,
        )
        result["services_cpu_us_per_event"] = _per_event(env, before, len(pairs), result)
    finally:
        stop.set()
        thread.join(timeout=30)
        client.disconnect()
    return result


def start_workers(env_vars: dict, count: int, log_dir) -> list[subprocess.Popen]:
    procs = []
    for n in range(count):
        log = open(log_dir / f"worker-{n + 1}.log", "ab")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "deploy.cli", "worker"],
                env=env_vars,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    return procs


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def process_tree(proc) -> list[psutil.Process]:
    """A worker and its children (the intake bridge process)."""
    try:
        root = psutil.Process(proc.pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def cpu_seconds(procs) -> list[float]:
    """CPU seconds of each worker, its bridge process included."""
    out = []
    for proc in procs:
        total = 0.0
        for p in process_tree(proc):
            try:
                times = p.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        out.append(total)
    return out


def _services_cpu(env) -> dict[str, float]:
    """CPU seconds so far of the broker and ClickHouse the benchmark started (none if external)."""
    return {name: cpu_seconds([proc])[0] for name, proc in env.services.items()}


def _per_event(env, before: dict[str, float], events: int, result: dict) -> dict[str, float]:
    """µs of broker and ClickHouse CPU per event while a run was measured: what storing and
    moving an event costs the servers, side by side for the pipeline and the baseline."""
    measured = max(events - result["stored_at_start"], 1)
    after = _services_cpu(env)
    return {name: round((after[name] - before[name]) / measured * 1e6, 1) for name in before}


def rss_bytes(proc) -> int:
    total = 0
    for p in process_tree(proc):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def alive_check(procs, log_dir):
    def check() -> None:
        for n, proc in enumerate(procs):
            if proc.poll() is not None:
                from deploy import services as svc

                tail = svc.log_tail(log_dir / f"worker-{n + 1}.log", 30)
                raise RuntimeError(f"worker {n + 1} exited with {proc.returncode}:\n{tail}")

    return check


def run_pipeline(
    env: bench.BenchEnv, pairs, workers: int = 1, profile_seconds: float | None = None
) -> dict:
    """`profile_seconds`: sample the (first) worker's engine process with py-spy for that long
    from the moment events start arriving in ClickHouse (deploy/profile.py)."""
    from deploy.profile import Profiler

    settings, env_vars = env.isolated(f"pipeline{workers}")
    client = connect(settings.clickhouse)
    topic = Topics(settings.topic_prefix).events
    asyncio.run(bench.publish_all(env.bootstrap, topic, pairs))
    procs = start_workers(env_vars, workers, settings.home)
    profilers: list[Profiler] = []

    def start_profile() -> None:
        if profile_seconds:
            profilers.append(Profiler(procs[0].pid, profile_seconds))

    try:
        before = cpu_seconds(procs)
        services_before = _services_cpu(env)
        result = bench.measure(
            client,
            settings.database,
            len(pairs),
            "events",
            deadline_s=900,
            with_rejects=True,
            alive=alive_check(procs, settings.home),
            on_start=start_profile,
        )
        result["services_cpu_us_per_event"] = _per_event(env, services_before, len(pairs), result)
        if profilers:
            result["profile"] = profilers[0].summary()
        after = cpu_seconds(procs)
        result["worker_cpu_seconds"] = [round(c, 2) for c in after]
        result["worker_cpu_share_while_measured"] = [
            round((a - b) / max(result["seconds"], 1e-6), 2)
            for a, b in zip(after, before, strict=True)
        ]
        # CPU per event while measured (engine and bridge processes): robust on a shared machine.
        measured = max(len(pairs) - result["stored_at_start"], 1)
        result["worker_cpu_us_per_event"] = round(
            sum(a - b for a, b in zip(after, before, strict=True)) / measured * 1e6, 1
        )
        result["worker_rss_mb"] = [round(rss_bytes(p) / 2**20, 1) for p in procs]
        result["unique_ids_stored"] = bench.stored_count(client, settings.database)
    finally:
        stop_workers(procs)
        client.disconnect()
    return result


def _ratio(a: float | None, b: float | None) -> float | None:
    """a / b; None when a run was too small to time (everything stored by the first insert)."""
    return round(a / b, 3) if a and b else None


def throughput(env: bench.BenchEnv, events: int, profile_seconds: float | None = None) -> dict:
    pairs = bench.event_mix(events)
    baseline = run_baseline(env, pairs)
    pipeline = run_pipeline(env, pairs, profile_seconds=profile_seconds)
    return {
        "events": events,
        "pipeline_eps": pipeline["eps"],
        "baseline_eps": baseline["eps"],
        "ratio": _ratio(pipeline["eps"], baseline["eps"]),
        "pipeline": pipeline,
        "baseline": baseline,
        "partitions": env.partitions,
    }


def scaling(env: bench.BenchEnv, events: int) -> dict:
    pairs = bench.event_mix(events)
    one = run_pipeline(env, pairs, workers=1)
    two = run_pipeline(env, pairs, workers=2)
    return {
        "events": events,
        "one_worker": one,
        "two_workers": two,
        "speedup": _ratio(two["eps"], one["eps"]),
    }


# -- latency ------------------------------------------------------------------------------------


def valid_mix(n: int, tag: str) -> list[tuple[bytes, dict]]:
    """Valid reports only (a rejected event never becomes queryable); ids tagged by key and
    order."""
    import datetime as dt

    import orjson

    from schemas.events import InvalidEvent, parse_event
    from schemas.registry import load_registry

    registry, now = load_registry(), dt.datetime.now(dt.UTC)
    out, seq = [], 0
    for key, value in bench.event_mix(int(n * 1.2) + 10, seed=11):
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


async def paced_publish(bootstrap: str, topic: str, items, rate: float, sent_at: dict) -> None:
    import datetime as dt

    import orjson
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**kafka_connection(bootstrap).aiokafka(), linger_ms=5, acks=1)
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


def latency_at(env: bench.BenchEnv, rate: float, seconds: float) -> dict:
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
        asyncio.run(
            bench.publish_all(env.bootstrap, topic, [(k, orjson.dumps(b)) for k, b in warm])
        )
        deadline = time.monotonic() + 120
        while bench.stored_count(client, settings.database, prefix=tag + "w-") < len(warm):
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
        measured_from, services_before = time.monotonic(), _services_cpu(env)
        workers_before = sum(cpu_seconds(procs))
        # Order per key is kept end to end, so the highest stored id per key covers all before it.
        by_key: dict[str, list[str]] = {}
        for _, body in items:
            by_key.setdefault(body["id"].rsplit("-", 1)[0], []).append(body["id"])
        cursor = {k: 0 for k in by_key}
        deadline = time.monotonic() + seconds + 120
        while len(seen_at) < len(items) and time.monotonic() < deadline:
            rows = client.execute(
                "SELECT substring(id, 1, length(id) - 10) AS k, max(id) "
                f"FROM {settings.database}.events "
                "WHERE id LIKE %(p)s GROUP BY k",
                {"p": tag + "-%"},
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
        services_after = _services_cpu(env)
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


def latency(env, events=None, quick=False, rates=None) -> dict:
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


# -- memory -------------------------------------------------------------------------------------


def distinct_reports(n: int, tag: str) -> list[tuple[bytes, bytes]]:
    """n reports that each open their own incident: distinct (micro-grid, category) pairs."""
    import datetime as dt

    import orjson

    from schemas.registry import load_registry
    from schemas.taxonomy import CATEGORIES

    registry = load_registry()
    micro_grids = [u for u in registry.units("micro_grid")]
    categories = [c for c in CATEGORIES.values() if c.default_severity <= 2] or list(
        CATEGORIES.values()
    )
    if n > len(micro_grids) * len(categories):
        raise ValueError(f"at most {len(micro_grids) * len(categories)} distinct incidents")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    out = []
    for i in range(n):
        mg = micro_grids[i % len(micro_grids)]
        category = categories[i // len(micro_grids)]
        chain = [u.code for u in registry.chain(mg.code)]
        district, street = chain[1], chain[2]
        body = {
            "specversion": "1.0",
            "id": f"{tag}-{i}",
            "type": "city.report.v1",
            "source": "/departments/grid_inspect",
            "time": now,
            "partitionkey": street,
            "datacontenttype": "application/json",
            "data": {
                "channel": "grid_patrol",
                "category": category.code,
                "severity": category.default_severity,
                "title": f"{category.name_zh} #{i}",
                "location": {
                    "district": district,
                    "street": street,
                    "community": chain[3],
                    "grid": chain[4],
                    "micro_grid": mg.code,
                },
            },
        }
        out.append((street.encode(), orjson.dumps(body)))
    return out


def memory(env, events=None, quick=False) -> dict:
    n = events or (20_000 if quick else 1_000_000)
    settings, env_vars = env.isolated("memory")
    client = connect(settings.clickhouse)
    topic = Topics(settings.topic_prefix).events
    asyncio.run(bench.publish_all(env.bootstrap, topic, distinct_reports(n, "mem")))
    procs = start_workers(env_vars, 1, settings.home)
    # Peak RSS of the engine process, of its bridge child(ren), and of both at one instant.
    peak = peak_engine = peak_bridge = 0
    started = time.monotonic()
    try:
        while True:
            try:
                engine = psutil.Process(procs[0].pid)
                engine_rss = engine.memory_info().rss
                bridge_rss = sum(p.memory_info().rss for p in engine.children(True))
                peak_engine = max(peak_engine, engine_rss)
                peak_bridge = max(peak_bridge, bridge_rss)
                peak = max(peak, engine_rss + bridge_rss)
            except psutil.Error:
                pass
            opened = client.execute(
                f"SELECT uniqExact(incident_id) FROM {settings.database}.incidents"
            )[0][0]
            if opened >= n:
                break
            if time.monotonic() - started > 1800:
                raise TimeoutError(f"only {opened} of {n} incidents stored in 30 minutes")
            time.sleep(0.5)
        open_now = client.execute(
            f"SELECT count() FROM {settings.database}.incidents_current "
            "WHERE status NOT IN ('resolved', 'closed')"
        )[0][0]
    finally:
        stop_workers(procs)
        client.disconnect()
    return {
        "open_incidents": int(open_now),
        "events": n,
        "peak_rss_mb": round(peak / 2**20, 1),
        "peak_rss_engine_mb": round(peak_engine / 2**20, 1),
        "peak_rss_bridge_mb": round(peak_bridge / 2**20, 1),
        "seconds": round(time.monotonic() - started, 1),
    }


def throughput_suite(env, events=None, quick=False, profile=False) -> dict:
    return throughput(env, events or (5_000 if quick else 200_000), 20.0 if profile else None)


def scaling_suite(env, events=None, quick=False) -> dict:
    return scaling(env, events or (5_000 if quick else 200_000))


def validator_suite(env, events=None, quick=False) -> dict:
    from schemas.bench import bench_validator

    return bench_validator(events or (5_000 if quick else 200_000))


def storage_suite(env, events=None, quick=False) -> dict:
    from dashboard.bench import bench_queries

    if events:
        sizes = [(events, max(events // 10, 10))]
    else:
        sizes = [(50_000, 5_000)] if quick else [(1_000_000, 100_000), (10_000_000, 1_000_000)]
    runs = []
    for n_events, n_incidents in sizes:
        settings, _ = env.isolated(f"storage{n_events}")
        runs.append(bench_queries(settings.clickhouse, settings.database, n_events, n_incidents))
    return {"runs": runs}


def engine_suite(env, events=None, quick=False) -> dict:
    from deploy.bench_engine import bench_engine

    return bench_engine(events or (2_000 if quick else 100_000))


def publishing_suite(env, events=None, quick=False) -> dict:
    from streams.publish.bench import bench_publishing

    settings, env_vars = env.isolated("publishing")
    return bench_publishing(settings, env_vars, events or (2_000 if quick else 20_000))


SUITES = {
    "validator": validator_suite,
    "engine": engine_suite,
    "throughput": throughput_suite,
    "latency": latency,
    "scaling": scaling_suite,
    "memory": memory,
    "publishing": publishing_suite,
    "storage": storage_suite,
}
