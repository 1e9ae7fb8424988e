"""The reads behind the dashboard's latest-state cache (storage/snapshot.py): a narrow load of
every incident's latest state, the wide rows of the incidents the wall lists, the delta since a
watermark, and the "same time yesterday" counters. Bound parameters only; 18.16-portable SQL.
Incidents are keyed by cityHash64(incident_id), the key the other latest-state queries group by.
"""

from __future__ import annotations

from cityops.storage.client import check_database_name
from cityops.storage.queries import (
    _WIDE_KEYS,
    _WIDE_SELECT,
    Y_COUNTS,
    Y_STATE,
    YESTERDAY_NAMES,
    _scope,
    latest_wide,
)

# (h, version, updated_at, status, level, district, joint, breached, escalated, repeat,
#  reopened, satisfied, severity, reported_at, category, resolve_due): one row per incident.
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
)
_NARROW = """
SELECT
    cityHash64(incident_id) AS h,
    max(version) AS n_version,
    toUnixTimestamp(max(updated_at)) AS n_updated_at,
    argMax(status, version) AS n_status,
    argMax(level, version) AS n_level,
    argMax(district, version) AS n_district,
    argMax(joint, version) AS n_joint,
    argMax(breaches, version) > 0 AS n_breached,
    argMax(escalations, version) > 0 AS n_escalated,
    argMax(repeat_count, version) > 0 AS n_repeat,
    argMax(reopened, version) > 0 AS n_reopened,
    ifNull(argMax(satisfied, version), 1) AS n_satisfied,
    argMax(severity, version) AS n_severity,
    toUnixTimestamp(min(reported_at)) AS n_reported_at,
    argMax(category, version) AS n_category,
    toUnixTimestamp(argMax(resolve_due, version)) AS n_resolve_due
FROM {db}.{table}
WHERE {where}
GROUP BY h
"""


def load_latest(client, db: str, *, block_rows: int = 65536):
    """Every incident's latest narrow state, streamed in blocks (a million incidents never sit in
    memory as Python tuples at once). Yields rows shaped as NARROW_KEYS."""
    db = check_database_name(db)
    sql = _NARROW.format(db=db, table="incidents", where="1") + "ORDER BY h"
    return client.execute_iter(sql, {}, settings={"max_block_size": block_rows})


_DELTA_WIDE = """,
    any(incident_id) AS w_id, argMax(unit_code, version) AS w_unit_code,
    argMax(street, version) AS w_street,
    argMax(title, version) AS w_title, argMax(lead_department, version) AS w_lead_department,
    argMax(departments, version) AS w_departments,
    toUnixTimestamp(argMax(accept_due, version)) AS w_accept_due,
    argMax(breaches, version) AS w_breaches, argMax(escalations, version) AS w_escalations,
    argMax(repeat_count, version) AS w_repeat_count,
    argMax(lat, version) AS w_lat, argMax(lon, version) AS w_lon
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
    SELECT cityHash64(incident_id) AS h, max(version), toUnixTimestamp(max(updated_at))
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
    where = (
        f"incident_id IN (SELECT incident_id FROM {db}.incidents "
        "WHERE severity >= %(sev)s OR joint = 1)"
    )
    sql = f"""
    SELECT cityHash64(s_id), {_WIDE_SELECT} FROM ({latest_wide(db, where)})
    WHERE s_status NOT IN ('resolved', 'closed') AND (s_severity >= %(sev)s OR s_joint = 1)
    """
    rows = client.execute(sql, {"sev": min_severity})
    return [(r[0], dict(zip(_WIDE_KEYS, r[1:], strict=True))) for r in rows]


# The "same time yesterday" half of queries._COUNTERS, from the same fragments.
_YESTERDAY = (
    "SELECT s_district AS district,"
    + Y_COUNTS
    + """FROM (
    SELECT argMax(district, version) AS s_district, min(reported_at) AS s_reported_at,"""
    + Y_STATE
    + """    FROM {db}.incidents
    WHERE 1 {scope}
    GROUP BY cityHash64(incident_id)
)
GROUP BY district
"""
)


def yesterday_counters(
    client, db: str, *, now: int, scope: str | None = None, max_threads: int = 1
) -> dict[str, dict[str, int]]:
    """Per district: the wall's counters as the stored versions stood at now - 24 h (the change
    indicators). Scans every incident version, so it runs in the background, on one thread."""
    db = check_database_name(db)
    sql = _YESTERDAY.format(db=db, scope=_scope(scope))
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
