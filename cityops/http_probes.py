"""/readyz and /metrics on a Flask server (the gateway's, the dashboard's), and the request
counter behind `cityops_<service>_requests_total`.

Metrics live in a registry of the app (several apps in one test process do not collide). A server
with several gunicorn worker processes runs prometheus-client's multiprocess mode: the launcher of
those processes calls `multiprocess_dir()` before it forks, and /metrics then sums the files of
every live worker.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from flask import Flask, Response, g, jsonify, request

from cityops.health import Cached, readiness, standard_checks

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_dir(path: Path) -> Path:
    """Turns on multiprocess mode for this process and the ones it forks: an emptied `path`
    holds each process's metric files. Call before any metric is made."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)
    from prometheus_client import values

    values.ValueClass = values.get_value_class()  # in case prometheus_client was imported before
    return path


def mark_dead(pid: int) -> None:
    """gunicorn's child_exit hook in multiprocess mode: drop a dead worker's live gauges."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def registries():
    """(registry new metrics register in, registry /metrics reads): one private registry, or in
    multiprocess mode none for the metrics and a collector of every process's files."""
    from prometheus_client import CollectorRegistry, multiprocess

    if os.environ.get(MULTIPROC_ENV):
        exposition = CollectorRegistry()
        multiprocess.MultiProcessCollector(exposition)
        return None, exposition
    registry = CollectorRegistry()
    return registry, registry


def install(
    server: Flask,
    service: str,
    settings,
    *,
    checks: dict[str, Cached] | None = None,
    collectors: Iterable = (),
) -> None:
    """Adds GET /readyz and GET /metrics to `server` and counts every answered request."""
    from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

    own, exposition = registries()
    requests = Counter(
        f"cityops_{service}_requests_total",
        f"HTTP requests the {service} answered, by method, route and status",
        ["method", "route", "status"],
        registry=own,
    )
    durations = Histogram(
        f"cityops_{service}_request_duration_seconds",
        f"Time the {service} took to answer a request, by route",
        ["route"],
        buckets=DURATION_BUCKETS,
        registry=own,
    )
    for collector in collectors:
        exposition.register(collector)
    checks = checks if checks is not None else standard_checks(settings)

    @server.before_request
    def _started():
        g.cityops_started = time.perf_counter()

    @server.after_request
    def _count(response):
        rule = request.url_rule
        route = rule.rule if rule is not None else "unmatched"
        requests.labels(request.method, route, str(response.status_code)).inc()
        started = g.get("cityops_started")
        if started is not None:
            durations.labels(route).observe(time.perf_counter() - started)
        return response

    @server.get("/readyz")
    def readyz():
        status, body = readiness({name: check() for name, check in checks.items()})
        body["service"] = service
        return jsonify(body), status

    @server.get("/metrics")
    def metrics():
        return Response(generate_latest(exposition), mimetype=CONTENT_TYPE_LATEST)
