"""书记督办 in ClickHouse (CONTRACT §11 `supervision`): the supervision boards with what was tried
per matter, the wall's tile (supervised matters, repeat complaint rate against the same period a
year before) and the grid share per street (小事不出网格). Measures defined once in
storage/measures.py. `scope` is a district, street or community code (storage/latest.py
scope_term); every value a bound parameter.
"""

from __future__ import annotations

from cityops.storage import measures
from cityops.storage.client import check_database_name
from cityops.storage.latest import SCOPE_COLUMNS, scope_term

DAY = 86400
YEAR = 365 * DAY
LEVEL_OF_SCOPE = {6: "district", 9: "street", 12: "community"}

# Supervision is never lowered: every version from the first supervised one on carries it, so
# the newest version among `supervision != ''` is the incident's newest version.
_BOARD = """
SELECT incident_id, argMax(supervision, version), argMax(status, version),
    any(district), any(street), any(community), any(category), any(severity),
    argMax(title, version), argMax(lead_department, version),
    toUnixTimestamp(min(reported_at)), toUnixTimestamp(argMax(resolve_due, version)),
    argMax(reopened, version), argMax(unsolved, version), argMax(repeat_count, version),
    argMax(callback, version), argMax(level, version)
FROM {db}.incidents
WHERE supervision != '' {scope} {level}
GROUP BY incident_id
"""
BOARD_KEYS = (
    "incident_id", "supervision", "status", "district", "street", "community", "category",
    "severity", "title", "lead_department", "reported_at", "resolve_due", "reopened", "unsolved",
    "repeat_count", "callback", "level",
)  # fmt: skip
LEVEL_ORDER = ("district", "street", "community")


def board_order(rows: list[dict], now: int) -> list[dict]:
    """Per level (district first), overdue first (open past its deadline, or a callback that
    went unanswered), then the deadline nearest. Pure; marks `overdue` on each row."""
    for row in rows:
        is_open = row["status"] not in measures.OPEN_EXCLUDED
        row["overdue"] = (is_open and row["resolve_due"] < now) or row[
            "status"
        ] == "callback_overdue"
        row["open"] = is_open
    rank = {level: i for i, level in enumerate(LEVEL_ORDER)}
    return sorted(
        rows,
        key=lambda r: (
            rank.get(r["supervision"], 9),
            not r["overdue"],
            not r["open"],
            r["resolve_due"],
            r["incident_id"],
        ),
    )


def board(
    client, db: str, *, now: int, scope: str | None = None, level: str | None = None
) -> list[dict]:
    """The supervised matters in `scope` (all levels, or only `level`), board_order'ed."""
    db = check_database_name(db)
    if level is not None and level not in LEVEL_ORDER:
        raise ValueError(f"level: one of {LEVEL_ORDER}, not {level!r}")
    sql = _BOARD.format(
        db=db, scope=scope_term(scope), level=" AND supervision = %(level)s" if level else ""
    )
    rows = client.execute(sql, {"scope": scope, "level": level})
    return board_order([dict(zip(BOARD_KEYS, r, strict=True)) for r in rows], now)


# The wall's kiosk-safe summary: only what counting needs (no title, no people, no ids leave);
# a merged duplicate is no matter of its own (measures.COUNTED).
_SUMMARY = """
SELECT argMax(supervision, version), argMax(status, version), any(district),
    toUnixTimestamp(argMax(resolve_due, version))
FROM {db}.incidents
WHERE supervision != '' {scope}
GROUP BY incident_id
HAVING {counted}
"""


def summary_counts(rows: list[tuple], now: int) -> list[dict]:
    """Pure: (supervision level, status, district, resolve due) per supervised matter →
    {level, district, open, overdue, closed} per (level, district) with any matter; per level
    (district first), the districts with the most overdue first, then the most open."""
    counts: dict[tuple[str, str], dict] = {}
    for level, status, district, due in rows:
        row = board_order(
            [{"supervision": level, "status": status, "resolve_due": due, "incident_id": ""}],
            now,
        )[0]
        key = (level, district)
        entry = counts.setdefault(
            key, {"level": level, "district": district, "open": 0, "overdue": 0, "closed": 0}
        )
        entry["open"] += row["open"]
        entry["closed"] += not row["open"]
        entry["overdue"] += row["overdue"]
    rank = {level: i for i, level in enumerate(LEVEL_ORDER)}
    return sorted(
        counts.values(),
        key=lambda e: (rank.get(e["level"], 9), -e["overdue"], -e["open"], e["district"]),
    )


def summary(client, db: str, *, now: int, scope: str | None = None) -> list[dict]:
    """The supervised matters in `scope` (None: the city) counted per level and district."""
    db = check_database_name(db)
    counted = measures.counted_sql({"merged_into": "argMax(merged_into, version)"})
    sql = _SUMMARY.format(db=db, scope=scope_term(scope), counted=counted)
    rows = client.execute(sql, {"scope": scope})
    return summary_counts(rows, now)


def history(client, db: str, incident_ids: tuple[str, ...]) -> dict[str, list[dict]]:
    """What was tried per matter (call after `board` checked the scope): its transitions in
    order (escalations, returns, reopenings, supervision, callbacks answered …)."""
    if not incident_ids:
        return {}
    db = check_database_name(db)
    sql = f"""
    SELECT incident_id, seq, toUnixTimestamp(at), kind, department, reason
    FROM {db}.incident_transitions
    WHERE incident_id IN %(ids)s
    ORDER BY incident_id, seq
    LIMIT 1 BY incident_id, seq
    """
    out: dict[str, list[dict]] = {i: [] for i in incident_ids}
    for iid, seq, at, kind, dept, reason in client.execute(sql, {"ids": tuple(incident_ids)}):
        out[iid].append(
            {"seq": seq, "time": at, "kind": kind, "department": dept, "reason": reason}
        )
    return out


_COUNTS = """
SELECT period,
{counts}
FROM (
    SELECT if(min(reported_at) >= toDateTime(%(now_from)s), 'now', 'year_ago') AS period,
        argMax(status, version) AS s_status, argMax(level, version) AS s_level,
        argMax(supervision, version) AS s_supervision,
        argMax(repeat_count, version) AS s_repeat_count,
        argMax(merged_into, version) AS s_merged_into
    FROM {db}.incidents
    WHERE ((reported_at >= toDateTime(%(now_from)s) AND reported_at < toDateTime(%(now)s))
        OR (reported_at >= toDateTime(%(ago_from)s) AND reported_at < toDateTime(%(ago_to)s)))
        {scope}
    GROUP BY incident_id
)
GROUP BY period
"""
_SUPERVISED = """
SELECT s_supervision, count() FROM (
    SELECT argMax(supervision, version) AS s_supervision, argMax(status, version) AS s_status,
        argMax(merged_into, version) AS s_merged_into
    FROM {db}.incidents
    WHERE supervision != '' {scope}
    GROUP BY incident_id
)
WHERE {counted} AND {supervised}
GROUP BY s_supervision
"""


def wall_tile(client, db: str, *, now: int, days: int = 30, scope: str | None = None) -> dict:
    """Open supervised matters (total and per level) and the repeat complaint rate of the
    matters reported in the last `days` against the same days a year before."""
    db = check_database_name(db)
    cols = {c: f"s_{c}" for c in measures.SUPERVISION_COLUMNS}
    supervised_sql = _SUPERVISED.format(
        db=db,
        scope=scope_term(scope),
        supervised=measures.SUPERVISION_CONDITIONS["supervised"].sql.format_map(cols),
        counted=measures.counted_sql(cols),
    )
    by_level = dict(client.execute(supervised_sql, {"scope": scope}))
    span = days * DAY
    params = {
        "now": now,
        "now_from": now - span,
        "ago_from": now - YEAR - span,
        "ago_to": now - YEAR,
        "scope": scope,
    }
    sql = _COUNTS.format(db=db, scope=scope_term(scope), counts=measures.supervision_counts_sql())
    periods = {
        period: dict(zip(measures.SUPERVISION_NAMES, values, strict=True))
        for period, *values in client.execute(sql, params)
    }
    empty = dict.fromkeys(measures.SUPERVISION_NAMES, 0)
    rate = measures.supervision_rate
    return {
        "supervised": sum(by_level.values()),
        "by_level": by_level,
        "repeat_rate": rate(periods.get("now", empty), "repeat_complaint_rate"),
        "repeat_rate_year_ago": rate(periods.get("year_ago", empty), "repeat_complaint_rate"),
    }


_GRID = """
SELECT s_street,
{counts}
FROM (
    SELECT any(street) AS s_street, argMax(status, version) AS s_status,
        argMax(level, version) AS s_level, argMax(supervision, version) AS s_supervision,
        argMax(repeat_count, version) AS s_repeat_count,
        argMax(merged_into, version) AS s_merged_into
    FROM {db}.incidents
    WHERE reported_at >= toDateTime(%(since)s) {scope}
    GROUP BY incident_id
)
GROUP BY s_street
ORDER BY s_street
"""


def grid_share(client, db: str, *, since: int, scope: str | None = None) -> list[dict]:
    """小事不出网格 per street: matters done at grid level ÷ matters done (reported since)."""
    db = check_database_name(db)
    sql = _GRID.format(db=db, scope=scope_term(scope), counts=measures.supervision_counts_sql())
    out = []
    for street, *values in client.execute(sql, {"since": since, "scope": scope}):
        counts = dict(zip(measures.SUPERVISION_NAMES, values, strict=True))
        out.append(
            {
                "street": street,
                **counts,
                "grid_share": measures.supervision_rate(counts, "grid_share"),
            }
        )
    return out


def secretary_level(unit: str) -> str:
    """The board a secretary of `unit` owns: the level of the unit's code."""
    level = LEVEL_OF_SCOPE.get(len(unit))
    if level is None or len(unit) not in SCOPE_COLUMNS:
        raise ValueError(f"unit {unit!r}: not a district, street or community code")
    return level
