"""The supervisor's restart policy (CONTRACT §10): pure decisions, no processes.

A service of `cityops up` that exits is started again after an exponential back-off (1, 2, 4 … s,
capped at 30 s); one that exits `max_exits` times within `window` seconds is crash-looping and is
given up (left down, with one message naming its log). Only exits inside the window count, so a
service that ran quietly for a while starts again from the shortest back-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cityops.stack_state import DOWN, RESTARTING, UP, service_state  # noqa: F401 - re-exported


@dataclass(frozen=True)
class RestartPolicy:
    base: float = 1.0  # seconds before the first restart
    cap: float = 30.0  # the longest back-off
    max_exits: int = 5  # this many exits within `window` ...
    window: float = 120.0  # ... seconds: a crash loop, given up


@dataclass(frozen=True)
class Decision:
    action: Literal["restart", "give_up"]
    delay: float = 0.0  # seconds to wait before the restart


def recent(exits: list[float], now: float, policy: RestartPolicy) -> list[float]:
    """The exit times (monotonic seconds) that still count at `now`."""
    return [t for t in exits if now - t < policy.window]


def decide(exits: list[float], now: float, policy: RestartPolicy = RestartPolicy()) -> Decision:
    """What to do about a service whose exits so far (the latest included) happened at `exits`."""
    counted = recent(exits, now, policy)
    if len(counted) >= policy.max_exits:
        return Decision("give_up")
    delay = min(policy.cap, policy.base * 2 ** max(len(counted) - 1, 0))
    return Decision("restart", delay)
