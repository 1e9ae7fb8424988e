"""The gateway's Flask app shell: shared state (keys, rate limiters, the Kafka publisher, the
ClickHouse reader, the reporter-hash key), the two route groups and uniform error answers. Built
by `create_app`; served by gunicorn (serve.py). Anything a client sent goes into a log line only
through `clean()`: no raw control characters, so one request is one line."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from cityops.schemas.registry import Registry, load_registry
from cityops.sdk import Publisher
from cityops.streams.publish.gateway.problems import problem
from cityops.streams.publish.gateway.ratelimit import RateLimiter
from cityops.streams.publish.keys import ApiKey, KeyStore

log = logging.getLogger("cityops.gateway")

# Short broker timeouts: a request waits at most gateway_ack_timeout for its acknowledgement and
# answers 503 after that; the producer must give up on its own within that time too.
GATEWAY_PRODUCER: dict[str, Any] = {
    "linger_ms": 2,
    "request_timeout_ms": 3_000,
    "delivery_timeout_ms": 6_000,
    "max_block_ms": 3_000,
    "reconnect_backoff_max_ms": 1_000,
}


@dataclass
class Gateway:
    settings: Any
    registry: Registry
    keys: KeyStore
    limiter: RateLimiter  # per key, one token per event
    public_limiter: RateLimiter  # anonymous Open311 reads, per client address
    reporter_key: bytes  # HMAC key of Open311's reporter_hash
    _publisher: Publisher | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)

    def publisher(self) -> Publisher:
        """One producer per process, made on first use (after gunicorn forks)."""
        if self._publisher is None:
            with self._lock:
                if self._publisher is None:
                    self._publisher = Publisher(
                        self.settings,
                        None,
                        registry=self.registry,
                        on_error=_log_failure,
                        **GATEWAY_PRODUCER,
                    )
        return self._publisher

    def clickhouse(self):
        """A ClickHouse client per thread (clickhouse-driver clients are not thread-safe)."""
        client = getattr(self._local, "client", None)
        if client is None:
            from cityops.storage.client import connect

            client = connect(self.settings.clickhouse)
            self._local.client = client
        return client

    def close(self) -> None:
        if self._publisher is not None:
            self._publisher.close(timeout=5)
            self._publisher = None


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean(value: object, limit: int = 200) -> str:
    """Client text made safe for one log line: control characters (newlines included) escaped
    as \\xNN / \\uNNNN, long text cut."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _log_failure(event_id: str, exc: BaseException) -> None:
    # The request that sent it answers 503; the log names the event, never the key.
    log.warning(
        "event %s not acknowledged by the broker: %s",
        clean(event_id),
        type(exc).__name__,
        extra={"event_id": event_id},  # a field of the JSON line (cityops/logjson.py)
    )


def create_app(settings, *, registry: Registry | None = None) -> Flask:
    app = Flask("cityops.gateway")
    app.config["MAX_CONTENT_LENGTH"] = settings.gateway_max_body
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    gateway = Gateway(
        settings=settings,
        registry=registry or load_registry(),
        keys=KeyStore(settings.home),
        limiter=RateLimiter(settings.gateway_rate, settings.gateway_burst),
        public_limiter=RateLimiter(
            settings.gateway_public_rate, settings.gateway_public_burst, max_buckets=20_000
        ),
        reporter_key=_reporter_key(settings),
    )
    app.extensions["cityops_gateway"] = gateway

    from cityops.streams.publish.gateway import open311_reads  # noqa: F401 - registers the GET routes
    from cityops.streams.publish.gateway.events import events_api
    from cityops.streams.publish.gateway.open311 import open311_api, open311_error

    app.register_blueprint(events_api)
    app.register_blueprint(open311_api)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    from cityops import http_probes

    http_probes.install(app, "gateway", settings)  # /readyz, /metrics (docs/operations.md)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith("/open311/"):
            description = exc.description or exc.name
            if exc.code == 413:
                description = (
                    f"the request is larger than {request.max_content_length} bytes "
                    f"(a media photo may have at most {settings.gateway_media_max} bytes)"
                )
            return open311_error(exc.code or 500, description)
        detail = exc.description or exc.name
        if exc.code == 413:
            detail = f"the request body is larger than {settings.gateway_max_body} bytes"
        return problem(exc.code or 500, exc.name, detail)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, clean(request.path))
        if request.path.startswith("/open311/"):
            return open311_error(500, "internal error")
        return problem(500, "Internal Server Error", "the gateway failed; the error is logged")

    return app


def _reporter_key(settings) -> bytes:
    """The configured secret, else the one kept in $CITYOPS_HOME/secrets.json (made on first
    start, mode 0600)."""
    if settings.reporter_secret is not None:
        return settings.reporter_secret.get_secret_value().encode()
    from cityops.private_files import stack_secrets

    return stack_secrets(settings.home)["reporter_secret"].encode()


def gateway() -> Gateway:
    from flask import current_app

    return current_app.extensions["cityops_gateway"]


def authenticated(key: str | None) -> ApiKey | None:
    api_key = gateway().keys.lookup(key)
    g.key_id = api_key.key_id if api_key else None
    return api_key
