"""Token buckets: `rate` tokens per second with bursts up to `burst`, one bucket per name (an API
key, or a client address for anonymous Open311 reads). The caller decides what a token is: the
events endpoint charges one per event, Open311 one per request.

In-process: with several gunicorn workers each keeps its own buckets, which is why the gateway
runs one worker with threads by default (docs/publishing.md). Memory is bounded: past
`max_buckets` names, buckets that have refilled completely (idle for burst/rate seconds, so
forgetting them changes nothing) are dropped, then the least recently used down to 90 %."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = 100_000,
    ):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, name: str, cost: float = 1.0) -> float:
        """0 when allowed (`cost` tokens are spent); otherwise the seconds until they are
        available (nothing is spent). A cost above the burst can never be paid: math.inf."""
        if cost > self.burst:
            return math.inf
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(name, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= cost:
                self._store(name, tokens - cost, now)
                return 0.0
            self._store(name, tokens, now)
            return (cost - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)

    def _store(self, name: str, tokens: float, now: float) -> None:
        buckets = self._buckets
        buckets.pop(name, None)  # re-insert: dict order is least recently used first
        buckets[name] = (tokens, now)
        if len(buckets) > self.max_buckets:
            self._evict(now)

    def _evict(self, now: float) -> None:
        full_after = self.burst / self.rate
        buckets = self._buckets
        for name in [n for n, (_, at) in buckets.items() if now - at >= full_after]:
            del buckets[name]
        # Down to 90 % so the next sweep is many inserts away: the least recently used go first
        # (they get a fresh bucket when they come back).
        excess = len(buckets) - self.max_buckets * 9 // 10
        if excess > 0:
            for name in list(buckets)[:excess]:
                del buckets[name]


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(min(seconds, 3600.0))))
