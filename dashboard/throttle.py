"""Login throttling: per user name and per client address, after `THRESHOLD` failed sign-ins the
next attempts are refused (HTTP 429, `Retry-After`) without checking the password, so guessing
costs the guesser time and the server no scrypt work.

Every failed or refused attempt is a strike. With `n` strikes (n >= THRESHOLD) in a row, the key
is locked for `backoff(n)` seconds after the last strike: 1 s after the 5th and 6th, then doubling
up to `CAP`. A refused attempt is itself a strike, so a client that keeps hammering waits longer
each time. A successful login clears the user's strikes (not the address's: one address may try
many names). Keys idle for `FORGET` seconds are forgotten; at most `capacity` keys per kind are
remembered (the least recently struck go first), so memory stays bounded.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

THRESHOLD = 5
CAP = 300.0
FORGET = 900.0


def backoff(strikes: int) -> float:
    """Seconds a key stays locked after its `strikes`-th strike in a row (0: not locked)."""
    if strikes < THRESHOLD:
        return 0.0
    return min(CAP, 2.0 ** max(0, strikes - THRESHOLD - 1))


def retry_after_header(seconds: float) -> str:
    """`Retry-After` in whole seconds, never 0 for a lock that is still on."""
    return str(max(1, math.ceil(seconds)))


@dataclass
class _Strikes:
    count: int
    last: float

    def locked_for(self, now: float) -> float:
        return max(0.0, self.last + backoff(self.count) - now)


@dataclass(frozen=True)
class Verdict:
    """What to do with one attempt: `retry_after` > 0 means refuse it (429) unchecked."""

    retry_after: float
    lockouts: tuple[str, ...] = ()  # kinds ("user", "address") that just became locked


class LoginThrottle:
    """Thread-safe strike table. `now` is passed in (monotonic seconds), so tests need no clock."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._tables: dict[str, OrderedDict[str, _Strikes]] = {
            "user": OrderedDict(),
            "address": OrderedDict(),
        }
        self._lock = threading.Lock()

    def _get(self, kind: str, key: str, now: float) -> _Strikes | None:
        entry = self._tables[kind].get(key)
        if entry is not None and now - entry.last > FORGET and entry.locked_for(now) == 0:
            del self._tables[kind][key]
            return None
        return entry

    def _strike(self, kind: str, key: str, now: float) -> bool:
        """Count one strike; True when this strike starts a lockout."""
        table = self._tables[kind]
        entry = self._get(kind, key, now)
        if entry is None:
            entry = table[key] = _Strikes(0, now)
        entry.count += 1
        entry.last = now
        table.move_to_end(key)
        while len(table) > self._capacity:
            table.popitem(last=False)
        return entry.count == THRESHOLD

    def check(self, user: str, address: str, now: float) -> Verdict:
        """Before the password is checked: refuse (and count a strike) while either key is
        locked; otherwise let the attempt through."""
        with self._lock:
            waits = [
                entry.locked_for(now)
                for kind, key in (("user", user), ("address", address))
                if (entry := self._get(kind, key, now)) is not None
            ]
            if max(waits, default=0.0) <= 0:
                return Verdict(0.0)
            return self._fail(user, address, now)

    def failure(self, user: str, address: str, now: float) -> Verdict:
        """After a wrong password: count a strike for both keys. The answer is refused (429)
        only once the user or address has more strikes than the threshold."""
        with self._lock:
            verdict = self._fail(user, address, now)
            over = any(
                (entry := self._get(kind, key, now)) is not None and entry.count > THRESHOLD
                for kind, key in (("user", user), ("address", address))
            )
            return verdict if over else Verdict(0.0, verdict.lockouts)

    def _fail(self, user: str, address: str, now: float) -> Verdict:
        started = tuple(
            kind
            for kind, key in (("user", user), ("address", address))
            if self._strike(kind, key, now)
        )
        wait = max(
            self._tables["user"][user].locked_for(now),
            self._tables["address"][address].locked_for(now),
        )
        return Verdict(wait, started)

    def success(self, user: str) -> None:
        with self._lock:
            self._tables["user"].pop(user, None)

    def __len__(self) -> int:
        return sum(len(table) for table in self._tables.values())
