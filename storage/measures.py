"""The centre's measures, each defined once: its SQL and its in-memory twin side by side.

A *condition* says something of one incident's latest state (open, closed, actually resolved,
in joint handling …): `sql` is a ClickHouse condition over the state's columns, named by
placeholders (`{status}`, `{level}`, `{joint}`, `{breaches}`, `{escalations}`, `{repeat_count}`,
`{reopened}`, `{satisfied}` with NULL read as 1), and `holds` is the same test on a `State`.
A *counter* of the wall counts the incidents for which all its conditions hold: the open ones,
or the ones reported in the 24-hour window. A *rate* is one counter over another.

Every count (the wall's, the loop's, the supervision's, the reports') counts only the incidents
`COUNTED` holds for: a merged duplicate (并单, `{merged_into}` set) is no matter of its own — its
reports count in the incident it was merged into — so it is in no numerator and no denominator,
while its own page still shows it closed, "merged into" the survivor.

Readers: the wall's SQL counters (storage/wall_queries.py, `counters_sql`), the wall's cache
(dashboard/cache/latest_state.py, `contribution`), the wall's tiles (dashboard/kpis.py, `RATES`),
the district page and the wall's lists (`condition_sql`), the cache's loads
(storage/incident_state.py), the engine's restore (storage/latest.py), the gateway's Open311
status (`OPEN_EXCLUDED`). The shared `measures` view (migration 14, frozen text) states the same
conditions; tests/unit/storage/test_measures.py checks that the view, the SQL and the twin agree
on the same data.
Definitions in docs/dashboard.md (办结率, 实际解决率).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

# an incident is open until it is resolved or closed (callback_overdue: resolved, the citizen's
# callback unanswered by its deadline)
OPEN_EXCLUDED = ("resolved", "closed", "callback_overdue")
LOW_LEVELS = ("street", "community", "grid", "micro_grid")  # "street level or below"


class State(NamedTuple):
    """What the measures read of one incident's latest state (flags as bools)."""

    status: str
    level: str
    joint: bool = False
    breached: bool = False
    escalated: bool = False
    repeat: bool = False
    reopened: bool = False
    satisfied: bool = True  # no feedback counts as satisfied
    merged: bool = False  # merged into another incident (并单): counted nowhere


@dataclass(frozen=True)
class Condition:
    sql: str
    holds: Callable[[Any], bool]  # of a State, or of a LoopState for the loop's conditions


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


# The one exclusion every count applies (SQL and twins): not a merged duplicate.
COUNTED = Condition("{merged_into} = ''", lambda s: not s.merged)


def counted_sql(columns: Mapping[str, str]) -> str:
    """The SQL of `COUNTED` over the given column names (`merged_into` -> column)."""
    return COUNTED.sql.format_map(columns)


def _level(*levels: str) -> Condition:
    if len(levels) == 1:
        return Condition(f"{{level}} = '{levels[0]}'", lambda s: s.level == levels[0])
    return Condition(f"{{level}} IN {_in(levels)}", lambda s: s.level in levels)


CONDITIONS: dict[str, Condition] = {
    "open": Condition(
        f"{{status}} NOT IN {_in(OPEN_EXCLUDED)}", lambda s: s.status not in OPEN_EXCLUDED
    ),
    "done": Condition(f"{{status}} IN {_in(OPEN_EXCLUDED)}", lambda s: s.status in OPEN_EXCLUDED),
    "closed": Condition("{status} = 'closed'", lambda s: s.status == "closed"),
    # 实际解决: closed, never reopened, not reported unsatisfied
    "actually_resolved": Condition(
        "{status} = 'closed' AND {reopened} = 0 AND {satisfied} = 1",
        lambda s: s.status == "closed" and not s.reopened and s.satisfied,
    ),
    "joint": Condition("{joint} = 1", lambda s: bool(s.joint)),
    "breached": Condition("{breaches} > 0", lambda s: bool(s.breached)),
    "escalated": Condition("{escalations} > 0", lambda s: bool(s.escalated)),
    "repeat": Condition("{repeat_count} > 0", lambda s: bool(s.repeat)),
    "low_level": _level(*LOW_LEVELS),
    "level_city": _level("city"),
    "level_district": _level("district"),
    "level_street": _level("street"),
    "level_community": _level("community"),
    "level_grid": _level("grid", "micro_grid"),
}


def condition_sql(name: str, columns: Mapping[str, str]) -> str:
    """The SQL of one condition over the given column names (placeholder -> column)."""
    return CONDITIONS[name].sql.format_map(columns)


# The wall's counters: open ones count the open incidents; window ones count the incidents
# reported in the last 24 hours (their `_y` twins: the 24 hours before, as stood yesterday).
OPEN_COUNTERS: dict[str, tuple[str, ...]] = {
    "open": ("open",),
    "joint": ("open", "joint"),
    "breached": ("open", "breached"),
    "escalated": ("open", "escalated"),
    "lvl_city": ("open", "level_city"),
    "lvl_district": ("open", "level_district"),
    "lvl_street": ("open", "level_street"),
    "lvl_community": ("open", "level_community"),
    "lvl_grid": ("open", "level_grid"),
}
WINDOW_COUNTERS: dict[str, tuple[str, ...]] = {
    "win": (),
    "win_closed": ("closed",),
    "win_done": ("done",),
    "win_actual": ("actually_resolved",),
    "win_repeat": ("repeat",),
    "win_low": ("done", "low_level"),
}
OPEN_NAMES = tuple(OPEN_COUNTERS)
WIN_NAMES = tuple(WINDOW_COUNTERS)
# yesterday's twins shown as change indicators (no level split, no win_low)
YESTERDAY_OF = ("open", "joint", "breached", "escalated", "win", "win_closed", "win_done",
                "win_actual", "win_repeat")  # fmt: skip
YESTERDAY_NAMES = tuple(f"{name}_y" for name in YESTERDAY_OF)
COUNTER_NAMES = OPEN_NAMES + WIN_NAMES + YESTERDAY_NAMES  # every counter of the wall

# The rates: (numerator, denominator) counters over the 24-hour window.
RATES: dict[str, tuple[str, str]] = {
    "closure_rate": ("win_closed", "win"),  # 办结率
    "resolution_rate": ("win_actual", "win_done"),  # 实际解决率
    "repeat_rate": ("win_repeat", "win"),
    "street_or_below_share": ("win_low", "win_done"),
}


def rate(counters: Mapping[str, int], name: str, *, yesterday: bool = False) -> float | None:
    """One rate of a counters row (None with a zero denominator)."""
    num, den = RATES[name]
    if yesterday:
        num, den = f"{num}_y", f"{den}_y"
    return counters[num] / counters[den] if counters[den] else None


# -- in memory -------------------------------------------------------------------------------------


def _all(conditions: tuple[str, ...], state: State) -> bool:
    return all(CONDITIONS[c].holds(state) for c in conditions)


def contribution(state: State) -> tuple[tuple[int, ...] | None, tuple[int, ...]]:
    """What one incident adds to the counters: (OPEN_NAMES increments, or None when it is not
    open; WIN_NAMES increments, counted when it was reported in the window). A merged duplicate
    adds nothing."""
    if not COUNTED.holds(state):
        return None, (0,) * len(WINDOW_COUNTERS)
    opened = None
    if CONDITIONS["open"].holds(state):
        opened = tuple(int(_all(conds, state)) for conds in OPEN_COUNTERS.values())
    return opened, tuple(int(_all(conds, state)) for conds in WINDOW_COUNTERS.values())


# -- SQL -------------------------------------------------------------------------------------------

COLUMNS = ("status", "level", "joint", "breaches", "escalations", "repeat_count", "reopened",
           "satisfied", "merged_into")  # fmt: skip


def _columns(prefix: str) -> dict[str, str]:
    return {c: f"{prefix}{c}" for c in COLUMNS}


def _count_if(terms: list[str], alias: str, cols: Mapping[str, str]) -> str:
    """countIf(<COUNTED> AND <terms>) AS alias: every count leaves merged duplicates out."""
    return f"    countIf({' AND '.join([counted_sql(cols), *terms])}) AS {alias}"


def counters_sql(*, prefix: str = "s_", reported: str = "s_reported_at") -> str:
    """countIf(...) AS <name> for OPEN_NAMES then WIN_NAMES, over latest-state columns named
    `prefix` + column; the window is `reported >= toDateTime(%(window)s)`."""
    cols = _columns(prefix)
    window = f"{reported} >= toDateTime(%(window)s)"
    parts = [
        _count_if([condition_sql(c, cols) for c in conds], name, cols)
        for name, conds in OPEN_COUNTERS.items()
    ]
    parts += [
        _count_if([window] + [condition_sql(c, cols) for c in conds], name, cols)
        for name, conds in WINDOW_COUNTERS.items()
    ]
    return ",\n".join(parts)


def yesterday_counters_sql(*, prefix: str = "y_", reported: str = "s_reported_at") -> str:
    """countIf(...) AS <name>_y for YESTERDAY_NAMES, over the states as they stood yesterday
    (`prefix` + column; an empty status: the incident did not exist yet); the window is
    [%(window_y)s, %(window)s)."""
    cols = _columns(prefix)
    existed = f"{prefix}status != ''"
    window = f"{reported} >= toDateTime(%(window_y)s) AND {reported} < toDateTime(%(window)s)"
    conds_of = {**OPEN_COUNTERS, **WINDOW_COUNTERS}
    parts = []
    for name in YESTERDAY_OF:
        terms = [existed] + ([window] if name in WINDOW_COUNTERS else [])
        terms += [condition_sql(c, cols) for c in conds_of[name]]
        parts.append(_count_if(terms, f"{name}_y", cols))
    return ",\n".join(parts)


# -- closing the loop (CONTRACT §11) ---------------------------------------------------------------
# 实际解决率 (actual resolution rate) = incidents confirmed solved ÷ incidents closed: confirmed
# solved is closed after a callback answered "solved", with no callback ever answered "not
# solved" (each such answer reopened it and counts against the rate). 满意率 (satisfaction
# rate) = answers satisfied ÷ incidents with an answer. Per lead department, district or street
# (`LOOP_GROUPS`). Placeholders: {status}, {callback}, {unsolved}, {satisfied} (NULL: no answer),
# {merged_into} (COUNTED).


class LoopState(NamedTuple):
    """What the loop measures read of one incident's latest state."""

    status: str
    callback: str = ""  # "" | pending | overdue | solved | unsolved
    unsolved: int = 0
    satisfied: bool | None = None  # None: no answer
    merged: bool = False  # merged into another incident (并单): counted nowhere


LOOP_CONDITIONS: dict[str, Condition] = {
    "closed": Condition("{status} = 'closed'", lambda s: s.status == "closed"),
    "confirmed_solved": Condition(
        "{status} = 'closed' AND {callback} = 'solved' AND {unsolved} = 0",
        lambda s: s.status == "closed" and s.callback == "solved" and s.unsolved == 0,
    ),
    "answered": Condition("isNotNull({satisfied})", lambda s: s.satisfied is not None),
    "satisfied": Condition("ifNull({satisfied}, 0) = 1", lambda s: s.satisfied is True),
    "callback_overdue": Condition(
        "{status} = 'callback_overdue'", lambda s: s.status == "callback_overdue"
    ),
}
LOOP_NAMES = tuple(LOOP_CONDITIONS)
LOOP_COLUMNS = ("status", "callback", "unsolved", "satisfied", "merged_into")
LOOP_RATES: dict[str, tuple[str, str]] = {
    "actual_resolution_rate": ("confirmed_solved", "closed"),  # 实际解决率
    "satisfaction_rate": ("satisfied", "answered"),  # 满意率
}
LOOP_GROUPS = ("lead_department", "district", "street")


def loop_counts_sql(prefix: str = "s_") -> str:
    """countIf(...) AS <name> for LOOP_NAMES over latest-state columns `prefix` + column."""
    cols = {c: f"{prefix}{c}" for c in LOOP_COLUMNS}
    return ",\n".join(
        _count_if([c.sql.format_map(cols)], name, cols) for name, c in LOOP_CONDITIONS.items()
    )


def loop_counts(states: Iterable[tuple[str, LoopState]]) -> dict[str, dict[str, int]]:
    """The in-memory twin of `loop_counts_sql` grouped by the first of each pair."""
    out: dict[str, dict[str, int]] = {}
    for key, state in states:
        counts = out.setdefault(key, dict.fromkeys(LOOP_NAMES, 0))
        if not COUNTED.holds(state):
            continue
        for name, condition in LOOP_CONDITIONS.items():
            counts[name] += condition.holds(state)
    return out


def loop_rate(counts: Mapping[str, int], name: str) -> float | None:
    num, den = LOOP_RATES[name]
    return counts[num] / counts[den] if counts[den] else None


# -- 书记督办 and 小事不出网格 (issue 15) ----------------------------------------------------------
# supervised: an open matter a Party secretary supervises (CONTRACT §11 `supervision`); repeat
# complaint rate = matters with a repeat complaint ÷ matters reported, in a period (the wall sets
# it against the same period a year before); grid share (小事不出网格) = matters done at grid level
# (never escalated above the grid: the level only rises) ÷ matters done, per street.
# Placeholders: {status}, {level}, {supervision}, {repeat_count}, {merged_into} (COUNTED).
GRID_LEVELS = ("grid", "micro_grid")


class SupervisionState(NamedTuple):
    """What the supervision measures read of one incident's latest state."""

    status: str
    level: str = ""
    supervision: str = ""
    repeat_count: int = 0
    merged: bool = False  # merged into another incident (并单): counted nowhere


SUPERVISION_CONDITIONS: dict[str, Condition] = {
    "reported": Condition("1", lambda s: True),
    "supervised": Condition(
        f"{{supervision}} != '' AND {{status}} NOT IN {_in(OPEN_EXCLUDED)}",
        lambda s: s.supervision != "" and s.status not in OPEN_EXCLUDED,
    ),
    "repeat": Condition("{repeat_count} > 0", lambda s: s.repeat_count > 0),
    "done": Condition(f"{{status}} IN {_in(OPEN_EXCLUDED)}", lambda s: s.status in OPEN_EXCLUDED),
    "kept_in_grid": Condition(
        f"{{status}} IN {_in(OPEN_EXCLUDED)} AND {{level}} IN {_in(GRID_LEVELS)}",
        lambda s: s.status in OPEN_EXCLUDED and s.level in GRID_LEVELS,
    ),
}
SUPERVISION_NAMES = tuple(SUPERVISION_CONDITIONS)
SUPERVISION_COLUMNS = ("status", "level", "supervision", "repeat_count", "merged_into")
SUPERVISION_RATES: dict[str, tuple[str, str]] = {
    "repeat_complaint_rate": ("repeat", "reported"),  # 重复投诉率
    "grid_share": ("kept_in_grid", "done"),  # 小事不出网格
}


def supervision_counts_sql(prefix: str = "s_") -> str:
    """countIf(...) AS <name> for SUPERVISION_NAMES over latest-state columns `prefix` + column."""
    cols = {c: f"{prefix}{c}" for c in SUPERVISION_COLUMNS}
    return ",\n".join(
        _count_if([c.sql.format_map(cols)], name, cols)
        for name, c in SUPERVISION_CONDITIONS.items()
    )


def supervision_counts(
    states: Iterable[tuple[str, SupervisionState]],
) -> dict[str, dict[str, int]]:
    """The in-memory twin of `supervision_counts_sql`, grouped by the first of each pair."""
    out: dict[str, dict[str, int]] = {}
    for key, state in states:
        counts = out.setdefault(key, dict.fromkeys(SUPERVISION_NAMES, 0))
        if not COUNTED.holds(state):
            continue
        for name, condition in SUPERVISION_CONDITIONS.items():
            counts[name] += condition.holds(state)
    return out


# -- reports (CONTRACT §12) ------------------------------------------------------------------------
# Per district or street, over the incidents reported in the report's period and their state as it
# stood at the period's end: on-time (按时办理率: never past an acceptance or resolution deadline)
# ÷ incidents, closed ÷ incidents (办结率, as the wall's closure rate), repeat ÷ incidents
# (重复投诉率, as the wall's), and the loop's two rates (LOOP_RATES) from loop_counts_sql.
# Placeholders as CONDITIONS (with {merged_into}: COUNTED).

REPORT_CONDITIONS: dict[str, Condition] = {
    "incidents": Condition("1", lambda s: True),
    "on_time": Condition("{breaches} = 0", lambda s: not s.breached),
    "closed_all": CONDITIONS["closed"],
    "repeat": CONDITIONS["repeat"],
}
REPORT_NAMES = tuple(REPORT_CONDITIONS)
REPORT_RATES: dict[str, tuple[str, str]] = {
    "on_time_rate": ("on_time", "incidents"),  # 按时办理率
    "closure_rate": ("closed_all", "incidents"),  # 办结率
    "repeat_rate": ("repeat", "incidents"),  # 重复投诉率
}


def report_counts_sql(prefix: str = "s_") -> str:
    """countIf(...) AS <name> for REPORT_NAMES over state columns `prefix` + column."""
    cols = _columns(prefix)
    return ",\n".join(
        _count_if([c.sql.format_map(cols)], name, cols) for name, c in REPORT_CONDITIONS.items()
    )


def report_counts(states: Iterable[tuple[str, State]]) -> dict[str, dict[str, int]]:
    """The in-memory twin of `report_counts_sql` grouped by the first of each pair."""
    out: dict[str, dict[str, int]] = {}
    for key, state in states:
        counts = out.setdefault(key, dict.fromkeys(REPORT_NAMES, 0))
        if not COUNTED.holds(state):
            continue
        for name, condition in REPORT_CONDITIONS.items():
            counts[name] += condition.holds(state)
    return out


def supervision_rate(counts: Mapping[str, int], name: str) -> float | None:
    num, den = SUPERVISION_RATES[name]
    return counts[num] / counts[den] if counts[den] else None


def report_rate(counts: Mapping[str, int], name: str) -> float | None:
    """A report rate or a loop rate of one unit's counts (None without a denominator)."""
    num, den = REPORT_RATES[name] if name in REPORT_RATES else LOOP_RATES[name]
    return counts[num] / counts[den] if counts[den] else None
