"""Each incident's latest state, defined once, and the SQL pieces its readers share.

`incidents` holds every version of an incident (ReplacingMergeTree(version): merges drop old
versions some time later, so every reader takes the newest version itself). The latest value of a
column is `argMax(column, version)`, except: the report time and the place are fixed at opening
(`min(reported_at)` is cheaper), `version` and `updated_at` are the newest, and `satisfied` reads
NULL (no feedback) as 1 (storage/measures.py). A state "as it stood at" a time takes only the
versions written by then (argMaxIf). Readers group by GROUP_KEY, a 64-bit hash of the id: ~3x
faster than the id string on 18.16 (measured: 100k incidents, 27 ms vs 90 ms); a collision needs
~4e9 incidents. Aliases get a prefix so they never shadow the columns the aggregates read
(ClickHouse resolves aliases before columns).

Readers: the wall's queries (storage/wall_queries.py), the drill-down (storage/search_queries.py,
storage/incident_pages.py), the dashboard cache's loads (storage/incident_state.py), the gateway's
Open311 reads (storage/service_requests.py) and the engine's restore (`restore_states_sql`). The
frozen view `incidents_current` (migration 2) states the same for outside tools.
"""

from __future__ import annotations

from cityops.storage import measures
from cityops.storage.client import check_database_name

GROUP_KEY = "cityHash64(incident_id)"
_SPECIAL = {
    "incident_id": "any(incident_id)",
    "reported_at": "min(reported_at)",
    "version": "max(version)",
    "updated_at": "max(updated_at)",
    "satisfied": "ifNull(argMax(satisfied, version), 1)",
}


def latest(column: str) -> str:
    """The SQL of a column's value in each incident's latest version (in a GROUP BY incident)."""
    return _SPECIAL.get(column, f"argMax({column}, version)")


def as_of(column: str, at: str = "%(yesterday)s") -> str:
    """The SQL of a column's value in the newest version written by `at` (unix seconds); an
    incident with no version by then reads '' (status) or 0."""
    value = f"argMaxIf({column}, version, updated_at <= toDateTime({at}))"
    return f"ifNull({value}, 1)" if column == "satisfied" else value


def select(columns, prefix: str, *, of=latest) -> str:
    """`<latest value> AS <prefix><column>` for each column, comma-separated."""
    return ",\n    ".join(f"{of(c)} AS {prefix}{c}" for c in columns)


# A user's scope is a unit code; its length says its level (CONTRACT §2: codes nest by prefix).
SCOPE_COLUMNS = {6: "district", 9: "street", 12: "community"}


def scope_column(scope: str) -> str:
    """The column of the events and incidents tables a scope code restricts: a district (6
    digits), a street (9) or a community (12). Anything else is refused, never widened."""
    column = SCOPE_COLUMNS.get(len(scope))
    if column is None or not scope.isdigit():
        raise ValueError(f"scope {scope!r}: not a district, street or community code")
    return column


def scope_term(scope: str | None, column: str | None = None) -> str:
    """The WHERE term restricting a query to a user's unit (bound as %(scope)s): the district,
    street or community column by the code's level."""
    if not scope:
        return ""
    return f" AND {column or scope_column(scope)} = %(scope)s"


# -- the wide row: what the wall's lists and the drill-down's pages show ------------------------

WIDE_KEYS = (
    "incident_id", "status", "level", "unit_code", "district", "street", "category", "severity",
    "title", "lead_department", "departments", "joint", "reported_at", "accept_due",
    "resolve_due", "breaches", "escalations", "repeat_count", "lat", "lon",
)  # fmt: skip
_WIDE = """
SELECT
    {columns}
FROM {db}.{table}
{prewhere}WHERE {where}
GROUP BY cityHash64(incident_id)
"""
_TIMES = ("reported_at", "accept_due", "resolve_due")
WIDE_SELECT = ", ".join(
    f"toUnixTimestamp(s_{'id' if k == 'incident_id' else k})"
    if k in _TIMES
    else f"s_{'id' if k == 'incident_id' else k}"
    for k in WIDE_KEYS
)


def latest_wide(db: str, where: str, table: str = "incidents", prewhere: str = "") -> str:
    """Each incident's latest wide row (columns s_id, s_<key>; WIDE_SELECT reads them in
    WIDE_KEYS order) from `table` (`incidents` or its copy ordered by report time,
    `incidents_by_report`), optionally with a PREWHERE condition."""
    columns = f"{latest('incident_id')} AS s_id,\n    " + select(WIDE_KEYS[1:], "s_")
    return _WIDE.format(
        columns=columns,
        db=db,
        table=table,
        where=where,
        prewhere=f"PREWHERE {prewhere}\n" if prewhere else "",
    )


def wide_rows(rows) -> list[dict]:
    """Rows read with WIDE_SELECT as dicts keyed by WIDE_KEYS."""
    return [dict(zip(WIDE_KEYS, row, strict=True)) for row in rows]


# -- the engine's restore ------------------------------------------------------------------------


def restore_states_sql(db: str) -> str:
    """The engine's state snapshot (`state`) of every incident still open, or closed at or after
    %(since)s (its repeat window)."""
    db = check_database_name(db)
    not_closed = "NOT (" + measures.condition_sql("closed", {"status": latest("status")}) + ")"
    return (
        f"SELECT {latest('state')} FROM {db}.incidents GROUP BY incident_id "
        f"HAVING {not_closed} OR {latest('closed_at')} >= %(since)s"
    )
