"""The wall's numbers from query results: the eight KPI tiles with their change against the same
time yesterday, and whether the data on screen may be called live. Pure functions.

Definitions (docs/dashboard.md): counts of open incidents are the current state (open = not yet
resolved or closed); the three rates are over incidents reported in the last 24 hours, compared
with the 24 hours before as they stood at this time yesterday.
"""

from __future__ import annotations

from dataclasses import dataclass

from cityops.dashboard import ids


@dataclass(frozen=True)
class Kpi:
    value: str
    delta: str
    trend: str  # "up-good", "up-bad", "down-good", "down-bad", "flat"


# Whether a rising number is good news for the centre.
_UP_IS_GOOD = {
    ids.KPI_EVENTS_TODAY: None,
    ids.KPI_OPEN: False,
    ids.KPI_JOINT: None,
    ids.KPI_SLA_BREACHED: False,
    ids.KPI_ESCALATED: False,
    ids.KPI_CLOSURE_RATE: True,
    ids.KPI_RESOLUTION_RATE: True,
    ids.KPI_REPEAT_RATE: False,
}


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _trend(kpi: str, diff: float) -> str:
    if abs(diff) < 1e-9:
        return "flat"
    good = _UP_IS_GOOD[kpi]
    direction = "up" if diff > 0 else "down"
    if good is None:
        return f"{direction}-neutral"
    return f"{direction}-{'good' if (diff > 0) == good else 'bad'}"


def count_kpi(kpi: str, now: int, yesterday: int) -> Kpi:
    diff = now - yesterday
    arrow = "▲" if diff > 0 else "▼" if diff < 0 else "■"
    return Kpi(f"{now:,}", f"{arrow} {abs(diff):,}", _trend(kpi, diff))


def rate_kpi(kpi: str, now: float | None, yesterday: float | None) -> Kpi:
    if now is None:
        return Kpi("—", "", "flat")
    value = f"{now * 100:.1f}%"
    if yesterday is None:
        return Kpi(value, "", "flat")
    diff = (now - yesterday) * 100
    arrow = "▲" if diff > 0.05 else "▼" if diff < -0.05 else "■"
    return Kpi(value, f"{arrow} {abs(diff):.1f} pt", _trend(kpi, round(diff, 1)))


def wall_kpis(counters: dict[str, int], events: dict[str, int]) -> dict[str, Kpi]:
    """The eight tiles from `IncidentCounters.total` and `event_counts`."""
    c = counters
    return {
        ids.KPI_EVENTS_TODAY: count_kpi(ids.KPI_EVENTS_TODAY, events["today"], events["yesterday"]),
        ids.KPI_OPEN: count_kpi(ids.KPI_OPEN, c["open"], c["open_y"]),
        ids.KPI_JOINT: count_kpi(ids.KPI_JOINT, c["joint"], c["joint_y"]),
        ids.KPI_SLA_BREACHED: count_kpi(ids.KPI_SLA_BREACHED, c["breached"], c["breached_y"]),
        ids.KPI_ESCALATED: count_kpi(ids.KPI_ESCALATED, c["escalated"], c["escalated_y"]),
        ids.KPI_CLOSURE_RATE: rate_kpi(
            ids.KPI_CLOSURE_RATE,
            _ratio(c["win_closed"], c["win"]),
            _ratio(c["win_closed_y"], c["win_y"]),
        ),
        ids.KPI_RESOLUTION_RATE: rate_kpi(
            ids.KPI_RESOLUTION_RATE,
            _ratio(c["win_actual"], c["win_done"]),
            _ratio(c["win_actual_y"], c["win_done_y"]),
        ),
        ids.KPI_REPEAT_RATE: rate_kpi(
            ids.KPI_REPEAT_RATE,
            _ratio(c["win_repeat"], c["win"]),
            _ratio(c["win_repeat_y"], c["win_y"]),
        ),
    }


def level_counts(counters: dict[str, int]) -> dict[str, int]:
    return {
        level: counters[f"lvl_{level}"]
        for level in ("city", "district", "street", "community", "grid")
    }


def street_or_below_share(counters: dict[str, int]) -> float | None:
    return _ratio(counters["win_low"], counters["win_done"])


@dataclass(frozen=True)
class Freshness:
    stale: bool
    reason: str  # "", "no-data", "old", "unreachable"
    age: float | None
    lag: float | None


def freshness(
    newest: int | None, lag: float | None, now: float, stale_seconds: float, reachable: bool = True
) -> Freshness:
    """Live only when ClickHouse answered and its newest event is younger than stale_seconds."""
    if not reachable:
        return Freshness(True, "unreachable", None, None)
    if newest is None:
        return Freshness(True, "no-data", None, lag)
    age = max(0.0, now - newest)
    return Freshness(age > stale_seconds, "old" if age > stale_seconds else "", age, lag)


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
