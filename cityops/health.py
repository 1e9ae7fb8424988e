"""Readiness checks for /readyz (gateway, dashboard, workers): broker reachable (a metadata
request with a short timeout), ClickHouse reachable (SELECT 1), and for workers the consumer lag
under a bound (`lag_verdict`; the lag itself comes from streams/metrics.py). Each check is cached
for a few seconds, so probes and scrapes are cheap however often they come; the verdict
(`readiness`) is a plain function.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

CACHE_SECONDS = 3.0
TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str = ""
    ms: float = 0.0

    def as_json(self) -> dict:
        out: dict = {"ok": self.ok, "ms": self.ms}
        if self.detail:
            out["detail"] = self.detail
        return out


class Cached:
    """`check()` runs at most once per `ttl` seconds; callers in between get its last result.
    A check that raises is a failed Check naming the exception."""

    def __init__(self, check: Callable[[], str | None], ttl: float = CACHE_SECONDS) -> None:
        self._check, self.ttl = check, ttl
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._last = Check(False, "not checked yet")

    def __call__(self) -> Check:
        with self._lock:
            if time.monotonic() - self._at < self.ttl:
                return self._last
            started = time.perf_counter()
            try:
                problem = self._check()
            except Exception as exc:  # noqa: BLE001 - any failure makes the part unready
                problem = describe(exc)
            ms = round((time.perf_counter() - started) * 1000, 1)
            self._last = Check(problem is None, problem or "", ms)
            self._at = time.monotonic()
            return self._last


def describe(exc: BaseException) -> str:
    """One short line naming the failure (for the body of a 503)."""
    name, text = type(exc).__name__, str(exc)
    line = text if text.startswith(name) else f"{name}: {text}" if text else name
    return line.splitlines()[0][:300]


def readiness(checks: dict[str, Check]) -> tuple[int, dict]:
    """(HTTP status, body): 200 when every part is ok, else 503 naming the failing parts."""
    failing = sorted(name for name, check in checks.items() if not check.ok)
    body = {
        "status": "unready" if failing else "ready",
        "failing": failing,
        "checks": {name: check.as_json() for name, check in checks.items()},
    }
    return (503 if failing else 200), body


def lag_verdict(lags: dict[tuple[str, str, int], int], bound: int) -> str | None:
    """None when no partition's lag is over `bound`, else which ones are (the worst first)."""
    over = sorted(((lag, key) for key, lag in lags.items() if lag > bound), reverse=True)
    if not over:
        return None
    worst = ", ".join(f"{topic}[{partition}]={lag}" for lag, (_, topic, partition) in over[:3])
    return f"{len(over)} partitions over {bound} messages behind: {worst}"


# -- the checks -------------------------------------------------------------------------------


def broker_check(bootstrap: str, timeout: float = TIMEOUT_SECONDS) -> Callable[[], str | None]:
    """A fresh connection and a metadata request each time (a long-lived client would answer
    from its own cache and reconnect in the background)."""

    def check() -> str | None:
        from kafka import KafkaAdminClient

        ms = int(timeout * 1000)
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="cityops-readyz",
            request_timeout_ms=ms,
            reconnect_backoff_max_ms=ms,
            bootstrap_timeout_ms=ms,
        )
        try:
            admin.list_topics()
        finally:
            admin.close()
        return None

    return check


def clickhouse_check(target, timeout: float = TIMEOUT_SECONDS) -> Callable[[], str | None]:
    def check() -> str | None:
        from clickhouse_driver import Client

        client = Client(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password,
            database=target.database,
            connect_timeout=timeout,
            send_receive_timeout=timeout,
            alt_hosts=",".join(target.alt_hosts) or None,  # a cluster's other nodes
        )
        try:
            if client.execute("SELECT 1") != [(1,)]:
                return "SELECT 1 answered something else"
        finally:
            client.disconnect()
        return None

    return check


def standard_checks(settings, ttl: float = CACHE_SECONDS) -> dict[str, Cached]:
    return {
        "broker": Cached(broker_check(settings.bootstrap), ttl),
        "clickhouse": Cached(clickhouse_check(settings.clickhouse), ttl),
    }
