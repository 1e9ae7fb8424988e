"""Worker processes of a benchmark and what is measured of them: start and stop, CPU seconds
and RSS (a worker with its intake bridge child), the broker's and ClickHouse's CPU, and the
poll that times how fast events become queryable.

Throughput method (pipeline and baseline alike, one after the other in the same run, each on its
own topic and database): N events are published up front; the consumer starts; polling count()
every 20 ms, t0 is the first poll that sees any event stored, t1 the poll that sees all N (stored
or, for the pipeline, rejected); rate = (N - stored at t0) / (t1 - t0). Start-up time is thereby
excluded for both sides without fixed sleeps; the first insert's events are not counted.
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil


def start_workers(env_vars: dict, count: int, log_dir) -> list[subprocess.Popen]:
    procs = []
    for n in range(count):
        log = open(log_dir / f"worker-{n + 1}.log", "ab")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "cityops.deploy.cli", "worker"],
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


def services_cpu(env) -> dict[str, float]:
    """CPU seconds so far of the broker and ClickHouse the benchmark started (none if external)."""
    return {name: cpu_seconds([proc])[0] for name, proc in env.services.items()}


def per_event(env, before: dict[str, float], events: int, result: dict) -> dict[str, float]:
    """µs of broker and ClickHouse CPU per event while a run was measured: what storing and
    moving an event costs the servers, side by side for the pipeline and the baseline."""
    measured = max(events - result["stored_at_start"], 1)
    after = services_cpu(env)
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
                from cityops.deploy import services as svc

                tail = svc.log_tail(log_dir / f"worker-{n + 1}.log", 30)
                raise RuntimeError(f"worker {n + 1} exited with {proc.returncode}:\n{tail}")

    return check


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
