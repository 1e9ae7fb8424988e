"""The engine clock. Real time by default; `clock_speed` > 1 runs simulated time faster from
`clock_epoch` (so tests and simulations see SLA deadlines pass in seconds). Event times are mapped
onto the same clock, so a report published now is "now" on the engine clock too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Clock:
    speed: float = 1.0
    epoch: float = 0.0  # real Unix time where simulated and real time agree

    def at(self, real: float) -> datetime:
        """Engine time for a real Unix time."""
        return datetime.fromtimestamp(self.epoch + (real - self.epoch) * self.speed, UTC)

    def real(self, seconds: float) -> float:
        """The real Unix time of an engine time given in Unix seconds (the inverse of `at`)."""
        return self.epoch + (seconds - self.epoch) / self.speed

    def now(self) -> datetime:
        return self.at(time.time())

    def of(self, moment: datetime) -> datetime:
        """Engine time of an event's own time."""
        if self.speed == 1.0:
            return moment
        return self.at(moment.timestamp())


def clock_from(speed: float, epoch: float | None) -> Clock:
    return Clock(speed, time.time() if epoch is None else epoch)
