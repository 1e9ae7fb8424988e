"""`cityops bench publishing`: events/s through each way in — the SDK, `cityops publish`, and the
HTTP gateway with single events and with batches of 100 — each counted until the broker acked."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import orjson

from cityops.sdk import Publisher, complete
from cityops.streams.publish.simulator.batches import numbered_reports

BATCH = 100
CLIENTS = 8


def _events(n: int, tag: str) -> list[dict]:
    """The simulator's everyday mix, all stamped now, ids `<tag>-<i>`."""
    return numbered_reports(n, 7, run=tag, start=datetime.now(UTC), interval=0)


def bench_sdk(settings, n: int) -> float:
    events = _events(n, "sdk")
    with Publisher(settings, None) as publisher:
        started = time.perf_counter()
        for event in events:
            publisher.publish(event)
        publisher.flush()
        return n / (time.perf_counter() - started)


def bench_cli(env: dict, n: int) -> float:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.jsonl"
        path.write_bytes(
            b"\n".join(orjson.dumps(complete(e, None, now=now)) for e in _events(n, "cli"))
        )
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "cityops.deploy.cli", "publish", str(path)],
            env=env,
            check=True,
            capture_output=True,
        )
        return n / (time.perf_counter() - started)


def bench_gateway(settings, env: dict, n: int, batch: int) -> float:
    import requests

    from cityops.deploy import services as svc
    from cityops.streams.publish.keys import create_key

    port = svc.free_port()
    env = {
        **env,
        "CITYOPS_GATEWAY_PORT": str(port),
        "CITYOPS_GATEWAY_RATE": "1000000",
        "CITYOPS_GATEWAY_BURST": "1000000",
    }
    log = Path(settings.home) / "logs" / "bench-gateway.log"
    proc = svc.spawn(
        "gateway", [sys.executable, "-m", "cityops.deploy.cli", "gateway"], log, env=env
    )
    try:
        svc.wait_until(lambda: svc.tcp_open(port), 30, proc, "gateway")
        by_source: dict[str, list[dict]] = {}
        for event in _events(n, f"gw{batch}"):
            by_source.setdefault(event["source"], []).append(event)
        keys = {s: create_key(settings.home, s.rsplit("/", 1)[1])[0] for s in by_source}
        bodies = []
        for source, events in by_source.items():
            for i in range(0, len(events), batch):
                chunk = events[i : i + batch]
                body = orjson.dumps(chunk if batch > 1 else chunk[0])
                bodies.append((keys[source], body))
        url = f"http://127.0.0.1:{port}/api/v1/events"
        kind = "application/cloudevents-batch+json" if batch > 1 else "application/cloudevents+json"
        session_pool = [requests.Session() for _ in range(CLIENTS)]

        def post(item):
            index, (key, body) = item
            response = session_pool[index % CLIENTS].post(
                url,
                data=body,
                timeout=60,
                headers={"Authorization": f"Bearer {key}", "Content-Type": kind},
            )
            if response.status_code != 202:
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")

        started = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(post, enumerate(bodies)))
        return n / (time.perf_counter() - started)
    finally:
        svc.stop(proc)


def bench_publishing(settings, env: dict, events: int) -> dict:
    small = max(200, events // 10)
    return {
        "events": events,
        "sdk_eps": round(bench_sdk(settings, events)),
        "publish_cli_eps": round(bench_cli(env, events)),
        "gateway_single_eps": round(bench_gateway(settings, env, small, 1)),
        "gateway_batch100_eps": round(bench_gateway(settings, env, events, BATCH)),
        "method": f"until acked by the broker; gateway: {CLIENTS} client threads, keep-alive",
    }


def suite(env, events=None, quick=False) -> dict:
    settings, env_vars = env.isolated("publishing")
    return bench_publishing(settings, env_vars, events or (2_000 if quick else 20_000))
