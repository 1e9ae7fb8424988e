"""The one way a test waits for something: poll a condition until it holds or a deadline passes.
(Browser tests use Playwright's own condition waits: wait_for_function, wait_for_selector.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    *,
    interval: float = 0.1,
    ignoring: tuple[type[Exception], ...] = (),
    details: Callable[[], str] | None = None,
) -> T:
    """Calls `predicate` until it returns something truthy, and returns that. After `timeout`
    seconds raises AssertionError naming `what` was awaited, with the last value seen (or the last
    exception of a type in `ignoring`, which count as "not yet") and `details()` if given.
    `interval` is the pause between calls (0 when the predicate itself blocks, e.g. a Kafka poll).
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = predicate()
        except ignoring as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    message = f"timed out after {timeout:g} s waiting for {what}; last seen: {last!r}"
    if details is not None:
        message += "\n" + details()
    raise AssertionError(message)
