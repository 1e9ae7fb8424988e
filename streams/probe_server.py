"""A worker's HTTP endpoints on bind_host (127.0.0.1 by default):worker_http_port (0: none):
GET /healthz (alive), /readyz (broker and ClickHouse reachable, consumer lag under ready_max_lag)
and /metrics.

Faust's own web server stays off (streams/app.py): its views run on the event loop the engine
keeps busy, so a probe would wait behind bundles. This is a small threaded server of its own.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cityops.health import Check, lag_verdict, readiness, standard_checks
from cityops.schemas.topics import Topics
from cityops.streams.metrics import WorkerCollector, engine_lags

log = logging.getLogger(__name__)


class ProbeServer:
    def __init__(
        self,
        port: int,
        *,
        registry,
        host: str = "127.0.0.1",
        healthz: Callable[[], dict],
        readyz: Callable[[], tuple[int, dict]],
    ) -> None:
        self.port, self.registry, self.healthz, self.readyz = port, registry, healthz, readyz
        self.host = host
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> bool:
        """Serves in a daemon thread; False (logged) when the port cannot be bound: the worker
        still works, its probes fail, which a supervisor notices."""
        try:
            self.server = ThreadingHTTPServer((self.host, self.port), self._handler())
        except OSError as exc:
            log.error("worker HTTP endpoints not served: port %d: %s", self.port, exc)
            return False
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, name="cityops-probes", daemon=True
        ).start()
        log.info("worker HTTP endpoints on http://%s:%d", self.host, self.port)
        return True

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def _handler(self):
        probes = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/healthz":
                        self._send(200, "application/json", json.dumps(probes.healthz()))
                    elif path == "/readyz":
                        status, body = probes.readyz()
                        self._send(status, "application/json", json.dumps(body))
                    elif path == "/metrics":
                        self._send(200, CONTENT_TYPE_LATEST, generate_latest(probes.registry))
                    else:
                        self._send(404, "application/json", '{"error": "not found"}')
                except Exception:  # noqa: BLE001 - a probe must answer, never kill the thread
                    log.exception("worker probe %s failed", path)
                    self._send(500, "application/json", '{"error": "probe failed"}')

            def _send(self, status: int, kind: str, body) -> None:
                data = body if isinstance(body, bytes) else body.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args) -> None:  # noqa: A002 - probes are not logged
                return

        return Handler


def worker_probes(settings, runtime, bridge) -> ProbeServer:
    """The ProbeServer of one worker (not started)."""
    topics = Topics(settings.topic_prefix)
    prefix = settings.topic_prefix
    counters = bridge.counters

    def lag() -> dict[tuple[str, str, int], int]:
        """Lag per partition this worker holds: the bridge's (shared memory) and the engine's
        (its Faust consumer), both from fetch high watermarks."""
        out = {(f"{prefix}cityops-intake", topics.events, p): n for p, n in counters.lags().items()}
        for p, n in engine_lags(runtime.app.consumer, topics.bundles).items():
            out[(f"{prefix}cityops-engine", topics.bundles, p)] = n
        return out

    checks = standard_checks(settings)
    registry = runtime.metrics.registry
    registry.register(WorkerCollector(runtime, counters, bridge, lag))

    def healthz() -> dict:
        process = getattr(bridge, "process", None)  # None: a task of this process
        return {
            "status": "ok",
            "service": "worker",
            "engine_started": runtime.kafka is not None,
            "bundles": runtime.bundles,
            "bridge": {
                "in_process": not hasattr(bridge, "restarts"),
                "alive": bool(process is not None and process.is_alive()),
                "restarts": getattr(bridge, "restarts", 0),
            },
        }

    def readyz() -> tuple[int, dict]:
        results = {name: check() for name, check in checks.items()}
        lags = lag()
        problem = lag_verdict(lags, settings.ready_max_lag)
        results["lag"] = Check(problem is None, problem or "")
        results["engine"] = Check(runtime.kafka is not None, "" if runtime.kafka else "starting")
        status, body = readiness(results)
        body["service"] = "worker"
        body["max_lag"] = max(lags.values(), default=0)
        return status, body

    return ProbeServer(
        settings.worker_http_port,
        registry=registry,
        healthz=healthz,
        readyz=readyz,
        host=settings.bind_host,
    )
