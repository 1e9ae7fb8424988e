"""The report's rows (CONTRACT §12) from measured counts: pure functions, no I/O.

A report covers a *period* of Beijing time (UTC+8): a day, or the ISO week (Monday to Sunday)
containing the date. It reads the incidents reported in the period and their state as it stood at
the period's end, so the same date and data always give the same numbers.

Units are ranked only against comparable units: each unit's *tier* comes from its households in
the registry (a proxy for population), largest first, split into `TIERS` groups of equal size
(docs/reports.md). The rank within a tier orders units by their *score*, the mean of their rates
(on time, closure, actual resolution, satisfaction and 1 − repeat; a rate without a denominator
is left out); equal scores share a rank (1, 2, 2, 4) and list in unit-code order; a unit without
incidents has no score and no rank.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from cityops.storage import measures

BEIJING = timezone(timedelta(hours=8), "UTC+8")
PERIODS = ("daily", "weekly")
TIERS = 3
COLUMNS = ("unit_code", "unit_name", "tier", "rank", "events", "incidents", "on_time_rate",
           "closure_rate", "actual_resolution_rate", "satisfaction_rate",
           "repeat_rate")  # fmt: skip
RATE_NAMES = ("on_time_rate", "closure_rate", "actual_resolution_rate", "satisfaction_rate",
              "repeat_rate")  # fmt: skip
COUNT_NAMES = tuple(dict.fromkeys(measures.REPORT_NAMES + measures.LOOP_NAMES))
_SCORE_DIGITS = 9  # scores compared rounded: float noise never splits a tie


def parse_date(text: str) -> date:
    """A YYYY-MM-DD date; ValueError with a one-line message otherwise."""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def today_beijing(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(BEIJING).date()


@dataclass(frozen=True)
class Period:
    kind: str
    first: date  # first day (Beijing)
    last: date  # last day (Beijing), inclusive

    @property
    def start(self) -> datetime:
        """The period's first instant (aware, UTC)."""
        return datetime.combine(self.first, datetime.min.time(), BEIJING).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The instant after the period (aware, UTC)."""
        nxt = self.last + timedelta(days=1)
        return datetime.combine(nxt, datetime.min.time(), BEIJING).astimezone(UTC)

    @property
    def label(self) -> str:
        if self.kind == "daily":
            return self.first.isoformat()
        year, week, _ = self.first.isocalendar()
        return f"{year}-W{week:02d} ({self.first.isoformat()} – {self.last.isoformat()})"


def period(kind: str, day: date) -> Period:
    """The day, or the ISO week (Monday–Sunday) containing `day`."""
    if kind == "daily":
        return Period(kind, day, day)
    if kind == "weekly":
        monday = day - timedelta(days=day.weekday())
        return Period(kind, monday, monday + timedelta(days=6))
    raise ValueError(f"period must be one of {PERIODS}, not {kind!r}")


def tiers(households: Mapping[str, int], count: int = TIERS) -> dict[str, int]:
    """Tier 1..count per unit: by households, largest first (ties by code), in equal groups."""
    order = sorted(households, key=lambda code: (-households[code], code))
    n = len(order)
    return {code: 1 + (i * min(count, n)) // n for i, code in enumerate(order)}


def score(rates: Mapping[str, float | None]) -> float | None:
    """The mean of the unit's rates, repeat counted as 1 − repeat; None without any rate."""
    parts = [
        (1 - value) if name == "repeat_rate" else value
        for name in RATE_NAMES
        if (value := rates.get(name)) is not None
    ]
    return round(sum(parts) / len(parts), _SCORE_DIGITS) if parts else None


def rank_in_tiers(
    scores: Mapping[str, float | None], tier_of: Mapping[str, int]
) -> dict[str, int | None]:
    """Competition rank within each tier (1, 2, 2, 4) by score, higher first; None unscored."""
    ranks: dict[str, int | None] = {}
    by_tier: dict[int, list[str]] = {}
    for code in sorted(scores):
        by_tier.setdefault(tier_of[code], []).append(code)
    for codes in by_tier.values():
        scored = sorted(
            (-value, c) for c in codes if (value := scores[c]) is not None
        )  # higher score first; codes already in order within equal scores
        previous, rank = None, 0
        for i, (negated, code) in enumerate(scored, 1):
            if negated != previous:
                rank, previous = i, negated
            ranks[code] = rank
        ranks.update({c: None for c in codes if scores[c] is None})
    return ranks


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    households: int


def rows(
    units: Sequence[Unit],
    counts: Mapping[str, Mapping[str, int]],
    events: Mapping[str, int],
) -> list[dict]:
    """One row per unit (COLUMNS plus `score`), ordered by tier, rank (unranked last), code.
    `counts`: per unit code, the report and loop counters (COUNT_NAMES); a unit absent has 0."""
    zero = dict.fromkeys(COUNT_NAMES, 0)
    tier_of = tiers({u.code: u.households for u in units})
    out: dict[str, dict] = {}
    for unit in units:
        c = {**zero, **counts.get(unit.code, {})}
        rates = {name: measures.report_rate(c, name) for name in RATE_NAMES}
        out[unit.code] = {
            "unit_code": unit.code,
            "unit_name": unit.name,
            "tier": tier_of[unit.code],
            "rank": None,
            "events": int(events.get(unit.code, 0)),
            "incidents": c["incidents"],
            **rates,
            "score": score(rates),
        }
    ranks = rank_in_tiers({code: r["score"] for code, r in out.items()}, tier_of)
    for code, r in out.items():
        r["rank"] = ranks[code]
    return sorted(
        out.values(),
        key=lambda r: (r["tier"], r["rank"] is None, r["rank"] or 0, r["unit_code"]),
    )


def cell(value) -> str:
    """A CSV cell: rates with 4 decimals, None empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


# -- the funnel ---------------------------------------------------------------------------------
# received → dispatched → accepted → resolved → callback: the time spent reaching each stage from
# the one before, per incident that reached it; "within" is the share that kept the stage's limit
# (acceptance and resolution: the incident's own deadlines, set by the policy table; callback: no
# callback_overdue; dispatch: routing has no limit).
STAGES = ("dispatched", "accepted", "resolved", "callback")


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (deterministic, a value of the data); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least 1
    return ordered[int(k) - 1]


def funnel(incidents: Iterable[Mapping]) -> dict[str, dict]:
    """Per stage: n, median_s, p90_s, within (share, None where no limit or no incident).
    Each incident: reported, dispatched, accepted, resolved, callback (unix seconds or None),
    accept_due, resolve_due (unix seconds), callback_overdue (bool)."""
    spent: dict[str, list[float]] = {s: [] for s in STAGES}
    kept: dict[str, list[bool]] = {s: [] for s in STAGES}
    for inc in incidents:
        before = inc["reported"]
        for stage in STAGES:
            at = inc.get(stage)
            if at is None or before is None:
                before = None
                continue
            spent[stage].append(max(0, at - before))
            if stage == "accepted":
                kept[stage].append(at <= inc["accept_due"])
            elif stage == "resolved":
                kept[stage].append(at <= inc["resolve_due"])
            elif stage == "callback":
                kept[stage].append(not inc.get("callback_overdue"))
            before = at
    return {
        s: {
            "n": len(spent[s]),
            "median_s": percentile(spent[s], 50),
            "p90_s": percentile(spent[s], 90),
            "within": (sum(kept[s]) / len(kept[s])) if kept[s] else None,
        }
        for s in STAGES
    }
