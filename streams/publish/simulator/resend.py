"""The simulator's retries: an event the broker did not acknowledge is sent again with the same
id (the idempotency key, so a copy that did arrive stays one event downstream)."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque

# Events remembered for a resend: a failure is reported within the producer's 30 s delivery
# timeout, so this covers 1,000 events/s; older failures are counted as not delivered.
KEEP = 50_000


class Resender:
    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._sent: OrderedDict[str, dict] = OrderedDict()
        self._failed: deque[str] = deque()
        self._lock = threading.Lock()
        self.resent = 0
        self.lost: list[str] = []  # failed after they were forgotten

    def sent(self, event: dict) -> None:
        with self._lock:
            self._sent[event["id"]] = event
            self._sent.move_to_end(event["id"])
            while len(self._sent) > self.keep:
                self._sent.popitem(last=False)

    def failed(self, event_id: str) -> None:
        """A delivery failed (called from the producer's thread)."""
        with self._lock:
            if event_id in self._sent:
                self._failed.append(event_id)
            else:
                self.lost.append(event_id)

    def due(self, limit: int) -> list[dict]:
        """Up to `limit` failed events to send again, oldest first."""
        with self._lock:
            out: list[dict] = []
            while self._failed and len(out) < limit:
                event = self._sent.get(self._failed.popleft())
                if event is not None:
                    out.append(event)
            self.resent += len(out)
            return out

    def retry_later(self, event: dict) -> None:
        """`publish` itself failed (no broker to take it): queue it to be sent again."""
        self.sent(event)
        self.failed(event["id"])

    @property
    def waiting(self) -> int:
        return len(self._failed)
