"""The wall's incident queries: the counters per district (storage/measures.py) now and at the
same time yesterday, and the open incidents it lists (map markers, joint board). The wall serves
them from its cache (dashboard/cache/snapshot.py), which runs `incident_state`'s loads; these
queries are the SQL answer for the same numbers (before the cache has loaded, tests, benches).

Every value is a bound parameter; times go in as unix seconds. `scope` is a district adcode (an
officer's district) or None (the whole city): when given, the query is restricted to it in SQL.
All SQL runs on ClickHouse 18.16 and on current ClickHouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cityops.storage import measures
from cityops.storage.client import check_database_name
from cityops.storage.latest import (
    GROUP_KEY,
    WIDE_SELECT,
    as_of,
    latest_wide,
    scope_term,
    select,
    wide_rows,
)

# "Same time yesterday": each incident's state among the versions stored by then, and the wall's
# counters over it. Shared by `incident_counters` (below) and the cache's background query
# (incident_state.yesterday_counters), so the two can never drift apart.
_Y_COLUMNS = ("status", "joint", "breaches", "escalations", "repeat_count", "reopened",
              "satisfied", "merged_into")  # fmt: skip
Y_STATE = select(_Y_COLUMNS, "y_", of=as_of)
# Over Y_STATE and s_reported_at, in YESTERDAY_NAMES order.
Y_COUNTS = measures.yesterday_counters_sql()

# Latest state of each incident, plus its state as it was at `yesterday` (change indicators).
_LATEST_NARROW = f"""
SELECT
    {select(measures.COLUMNS + ("district", "reported_at"), "s_")},
    {Y_STATE}
FROM {{db}}.incidents
WHERE 1 {{scope}}
GROUP BY {GROUP_KEY}
"""

# The wall's counters per district, in measures.COUNTER_NAMES order.
_COUNTERS = f"""
SELECT
    s_district AS district,
{measures.counters_sql()},
{Y_COUNTS}
FROM ({{latest}})
GROUP BY district
"""


_OPEN = measures.condition_sql("open", {"status": "s_status"})
_JOINT = measures.condition_sql("joint", {"joint": "s_joint"})


@dataclass
class IncidentCounters:
    """Counters of the wall per district; `total` sums them over the scope."""

    by_district: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> dict[str, int]:
        out = dict.fromkeys(measures.COUNTER_NAMES, 0)
        for row in self.by_district.values():
            for name in measures.COUNTER_NAMES:
                out[name] += row[name]
        return out


def incident_counters(client, db: str, *, now: int, scope: str | None = None) -> IncidentCounters:
    """Open/joint/breached/escalated now and at the same time yesterday, the 24-hour rates'
    numerators and denominators, and open incidents per level, per district."""
    db = check_database_name(db)
    sql = _COUNTERS.format(latest=_LATEST_NARROW.format(db=db, scope=scope_term(scope)))
    params = {
        "yesterday": now - 86400,
        "window": now - 86400,
        "window_y": now - 2 * 86400,
        "scope": scope,
    }
    counters = IncidentCounters()
    for row in client.execute(sql, params):
        counters.by_district[row[0]] = dict(
            zip(measures.COUNTER_NAMES, (int(v) for v in row[1:]), strict=True)
        )
    return counters


def open_listed_sql(db: str, any_version: str, latest: str, *, scope: str | None = None) -> str:
    """The wide latest rows (s_hash, then WIDE_SELECT) of the open incidents whose latest state
    matches `latest` (over s_ columns), among those with any version matching `any_version`
    (over the table's columns; cheap, so the latest state is taken of few incidents)."""
    where = (
        f"incident_id IN (SELECT incident_id FROM {db}.incidents "
        f"WHERE ({any_version}) {scope_term(scope)})"
    )
    return f"""
    SELECT cityHash64(s_id) AS s_hash, {WIDE_SELECT} FROM ({latest_wide(db, where)})
    WHERE {_OPEN} AND ({latest})"""


def severe_open(
    client, db: str, *, min_severity: int = 3, limit: int = 300, scope: str | None = None
) -> list[dict]:
    """Open incidents of severity >= min_severity (map markers), newest first."""
    db = check_database_name(db)
    listed = open_listed_sql(db, "severity >= %(sev)s", "s_severity >= %(sev)s", scope=scope)
    sql = f"{listed}\nORDER BY s_severity DESC, s_reported_at DESC LIMIT %(limit)s"
    rows = client.execute(sql, {"sev": min_severity, "limit": limit, "scope": scope})
    return wide_rows(row[1:] for row in rows)


def joint_open(client, db: str, *, limit: int = 8, scope: str | None = None) -> list[dict]:
    """Open incidents in joint handling, the ones closest to (or past) their deadline first."""
    db = check_database_name(db)
    listed = open_listed_sql(db, "joint = 1", _JOINT, scope=scope)
    sql = f"{listed}\nORDER BY s_resolve_due, s_id LIMIT %(limit)s"
    return wide_rows(row[1:] for row in client.execute(sql, {"limit": limit, "scope": scope}))
