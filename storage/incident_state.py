"""The reads behind the dashboard's latest-state cache (dashboard/cache/snapshot.py): a narrow
load of every incident's latest state (storage/latest.py), the wide rows of the incidents the
wall lists, the delta since a watermark, and the "same time yesterday" counters. Bound
parameters only; 18.16-portable SQL. Incidents are keyed by cityHash64(incident_id), the key
the other latest-state queries group by.
"""

from __future__ import annotations

from cityops.storage import measures
from cityops.storage.client import check_database_name
from cityops.storage.latest import GROUP_KEY, WIDE_KEYS, latest, scope_term
from cityops.storage.measures import YESTERDAY_NAMES
from cityops.storage.wall_queries import Y_COUNTS, Y_STATE, open_listed_sql

# (h, version, updated_at, status, level, district, joint, breached, escalated, repeat,
#  reopened, satisfied, severity, reported_at, category, resolve_due, merged): one row per
#  incident; merged: merged into another incident (并单, storage/measures.py COUNTED).
NARROW_KEYS = (
    "h",
    "version",
    "updated_at",
    "status",
    "level",
    "district",
    "joint",
    "breached",
    "escalated",
    "repeat",
    "reopened",
    "satisfied",
    "severity",
    "reported_at",
    "category",
    "resolve_due",
    "merged",
)
_FLAG = {"breaches": "breached", "escalations": "escalated", "repeat_count": "repeat"}


def _flag(column: str) -> str:
    """The measure's condition (storage/measures.py) over the latest value, as 0/1."""
    return measures.condition_sql(_FLAG[column], {column: latest(column)})


_NARROW = f"""
SELECT
    {GROUP_KEY} AS h,
    {latest("version")} AS n_version,
    toUnixTimestamp({latest("updated_at")}) AS n_updated_at,
    {latest("status")} AS n_status,
    {latest("level")} AS n_level,
    {latest("district")} AS n_district,
    {latest("joint")} AS n_joint,
    {_flag("breaches")} AS n_breached,
    {_flag("escalations")} AS n_escalated,
    {_flag("repeat_count")} AS n_repeat,
    {latest("reopened")} > 0 AS n_reopened,
    {latest("satisfied")} AS n_satisfied,
    {latest("severity")} AS n_severity,
    toUnixTimestamp({latest("reported_at")}) AS n_reported_at,
    {latest("category")} AS n_category,
    toUnixTimestamp({latest("resolve_due")}) AS n_resolve_due,
    NOT ({measures.counted_sql({"merged_into": latest("merged_into")})}) AS n_merged
FROM {{db}}.{{table}}
WHERE {{where}}
GROUP BY h
"""


def load_latest(client, db: str, *, block_rows: int = 65536):
    """Every incident's latest narrow state, streamed in blocks (a million incidents never sit in
    memory as Python tuples at once). Yields rows shaped as NARROW_KEYS."""
    db = check_database_name(db)
    sql = _NARROW.format(db=db, table="incidents", where="1") + "ORDER BY h"
    return client.execute_iter(sql, {}, settings={"max_block_size": block_rows})


_DELTA_WIDE = f""",
    {latest("incident_id")} AS w_id, {latest("unit_code")} AS w_unit_code,
    {latest("street")} AS w_street,
    {latest("title")} AS w_title, {latest("lead_department")} AS w_lead_department,
    {latest("departments")} AS w_departments,
    toUnixTimestamp({latest("accept_due")}) AS w_accept_due,
    {latest("breaches")} AS w_breaches, {latest("escalations")} AS w_escalations,
    {latest("repeat_count")} AS w_repeat_count,
    {latest("lat")} AS w_lat, {latest("lon")} AS w_lon
FROM"""
# The wide columns of a delta row, after the narrow ones (category and resolve_due are narrow).
DELTA_WIDE_KEYS = (
    "incident_id",
    "unit_code",
    "street",
    "title",
    "lead_department",
    "departments",
    "accept_due",
    "breaches",
    "escalations",
    "repeat_count",
    "lat",
    "lon",
)


def delta_heads(client, db: str, *, since: int) -> list[tuple[int, int, int]]:
    """(hash, newest version, newest updated_at) of each incident with rows written with
    updated_at >= since: three narrow columns, so the cache can skip the incidents whose newest
    version it already holds before reading any wide column."""
    db = check_database_name(db)
    sql = f"""
    SELECT {GROUP_KEY} AS h, {latest("version")}, toUnixTimestamp({latest("updated_at")})
    FROM {db}.incident_changes
    WHERE updated_at >= toDateTime(%(since)s)
    GROUP BY h
    """
    return client.execute(sql, {"since": since})


def delta_since(client, db: str, *, since: int, hashes: tuple[int, ...] | None = None) -> list:
    """Latest state among the rows written with updated_at >= since, per incident (only the
    given hashes, when given): NARROW_KEYS then DELTA_WIDE_KEYS. Reads `incident_changes`
    (ordered by updated_at), so only the recent granules are read however many rows are stored."""
    db = check_database_name(db)
    where = "updated_at >= toDateTime(%(since)s)"
    if hashes is not None:
        where += " AND cityHash64(incident_id) IN %(hashes)s"
    sql = _NARROW.format(db=db, table="incident_changes", where=where)
    sql = sql.replace("\nFROM", _DELTA_WIDE, 1)
    return client.execute(sql, {"since": since, "hashes": hashes})


def listed_wide(client, db: str, *, min_severity: int) -> list[tuple[int, dict]]:
    """Wide rows of the open incidents the wall lists: severity >= min_severity (map markers and
    alerts) or in joint handling (the joint board), as (hash, row). Used once per full load."""
    db = check_database_name(db)
    sql = open_listed_sql(
        db, "severity >= %(sev)s OR joint = 1", "s_severity >= %(sev)s OR s_joint = 1"
    )
    rows = client.execute(sql, {"sev": min_severity})
    return [(r[0], dict(zip(WIDE_KEYS, r[1:], strict=True))) for r in rows]


# The "same time yesterday" half of wall_queries._COUNTERS, from the same fragments.
_YESTERDAY = f"""
SELECT s_district AS district,
{Y_COUNTS}
FROM (
    SELECT {latest("district")} AS s_district, {latest("reported_at")} AS s_reported_at,
    {Y_STATE}
    FROM {{db}}.incidents
    WHERE 1 {{scope}}
    GROUP BY {GROUP_KEY}
)
GROUP BY district
"""


def yesterday_counters(
    client, db: str, *, now: int, scope: str | None = None, max_threads: int = 1
) -> dict[str, dict[str, int]]:
    """Per district: the wall's counters as the stored versions stood at now - 24 h (the change
    indicators). Scans every incident version, so it runs in the background, on one thread."""
    db = check_database_name(db)
    sql = _YESTERDAY.format(db=db, scope=scope_term(scope))
    params = {
        "yesterday": now - 86400,
        "window": now - 86400,
        "window_y": now - 2 * 86400,
        "scope": scope,
    }
    rows = client.execute(sql, params, settings={"max_threads": max_threads})
    return {
        row[0]: dict(zip(YESTERDAY_NAMES, (int(v) for v in row[1:]), strict=True)) for row in rows
    }
