"""The named read queries of the dashboard (and of anyone else reading storage).

Every value is a bound parameter; only fixed SQL fragments chosen from whitelists are spliced in.
Times go in and come out as unix seconds (`toDateTime(int)` / `toUnixTimestamp`) so no client or
server time zone can shift them. `scope` is a district adcode (an officer's district) or None (the
whole city): when given, every query is restricted to it in SQL, not only in the UI.
All SQL runs on ClickHouse 18.16 and on current ClickHouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from cityops.storage.client import check_database_name

TEXT_SEARCH_MAX_SECONDS = 30 * 86400  # title search looks back at most 30 days from `until`
OPEN_EXCLUDED = ("resolved", "closed")  # an incident is open until it is resolved or closed
LEVELS = ("city", "district", "street", "community", "grid")
SORTABLE = {
    "reported_at": "s_reported_at",
    "severity": "s_severity",
    "status": "s_status",
    "district": "s_district",
    "category": "s_category",
    "resolve_due": "s_resolve_due",
}


def _scope(scope: str | None, column: str = "district") -> str:
    return f" AND {column} = %(scope)s" if scope else ""


# -- wall display ---------------------------------------------------------------------------------

# Latest state of each incident, plus its state as it was at `yesterday` (change indicators).
# Aliases are prefixed so they never shadow the columns the aggregates read (ClickHouse resolves
# aliases before columns). Grouping by a 64-bit hash of the id instead of the id string is ~3x
# faster on 18.16 (measured: 100k incidents, 27 ms vs 90 ms); a collision needs ~4e9 incidents.
# "Same time yesterday": each incident's state among the versions stored by then, and the wall's
# counters over it. Shared by `incident_counters` (below) and the cache's background query
# (incident_state.yesterday_counters), so the two can never drift apart.
Y_STATE = """
    argMaxIf(status, version, updated_at <= toDateTime(%(yesterday)s)) AS y_status,
    argMaxIf(joint, version, updated_at <= toDateTime(%(yesterday)s)) AS y_joint,
    argMaxIf(breaches, version, updated_at <= toDateTime(%(yesterday)s)) AS y_breaches,
    argMaxIf(escalations, version, updated_at <= toDateTime(%(yesterday)s)) AS y_escalations,
    argMaxIf(repeat_count, version, updated_at <= toDateTime(%(yesterday)s)) AS y_repeat_count,
    argMaxIf(reopened, version, updated_at <= toDateTime(%(yesterday)s)) AS y_reopened,
    ifNull(argMaxIf(satisfied, version, updated_at <= toDateTime(%(yesterday)s)), 1) AS y_satisfied
"""
# Over Y_STATE and s_reported_at, in YESTERDAY_NAMES order.
Y_COUNTS = """
    countIf(y_status != '' AND y_status NOT IN ('resolved', 'closed')) AS open_y,
    countIf(y_status != '' AND y_status NOT IN ('resolved', 'closed') AND y_joint = 1) AS joint_y,
    countIf(y_status != '' AND y_status NOT IN ('resolved', 'closed') AND y_breaches > 0)
        AS breached_y,
    countIf(y_status != '' AND y_status NOT IN ('resolved', 'closed') AND y_escalations > 0)
        AS escalated_y,
    countIf(y_status != '' AND s_reported_at >= toDateTime(%(window_y)s)
            AND s_reported_at < toDateTime(%(window)s)) AS win_y,
    countIf(s_reported_at >= toDateTime(%(window_y)s) AND s_reported_at < toDateTime(%(window)s)
            AND y_status = 'closed') AS win_closed_y,
    countIf(s_reported_at >= toDateTime(%(window_y)s) AND s_reported_at < toDateTime(%(window)s)
            AND y_status IN ('resolved', 'closed')) AS win_done_y,
    countIf(s_reported_at >= toDateTime(%(window_y)s) AND s_reported_at < toDateTime(%(window)s)
            AND y_status = 'closed' AND y_reopened = 0 AND y_satisfied = 1) AS win_actual_y,
    countIf(s_reported_at >= toDateTime(%(window_y)s) AND s_reported_at < toDateTime(%(window)s)
            AND y_status != '' AND y_repeat_count > 0) AS win_repeat_y
"""
YESTERDAY_NAMES = (
    "open_y",
    "joint_y",
    "breached_y",
    "escalated_y",
    "win_y",
    "win_closed_y",
    "win_done_y",
    "win_actual_y",
    "win_repeat_y",
)

# Latest state of each incident, plus its state as it was at `yesterday` (change indicators).
# Aliases are prefixed so they never shadow the columns the aggregates read (ClickHouse resolves
# aliases before columns). Grouping by a 64-bit hash of the id instead of the id string is ~3x
# faster on 18.16 (measured: 100k incidents, 27 ms vs 90 ms); a collision needs ~4e9 incidents.
_LATEST_NARROW = (
    """
SELECT
    argMax(status, version) AS s_status,
    argMax(level, version) AS s_level,
    argMax(district, version) AS s_district,
    argMax(joint, version) AS s_joint,
    argMax(breaches, version) AS s_breaches,
    argMax(escalations, version) AS s_escalations,
    argMax(repeat_count, version) AS s_repeat_count,
    argMax(reopened, version) AS s_reopened,
    ifNull(argMax(satisfied, version), 1) AS s_satisfied,
    min(reported_at) AS s_reported_at,
"""
    + Y_STATE
    + """
FROM {db}.incidents
WHERE 1 {scope}
GROUP BY cityHash64(incident_id)
"""
)

_COUNTERS = (
    """
SELECT
    s_district AS district,
    countIf(s_status NOT IN ('resolved', 'closed')) AS open,
    countIf(s_status NOT IN ('resolved', 'closed') AND s_joint = 1) AS joint,
    countIf(s_status NOT IN ('resolved', 'closed') AND s_breaches > 0) AS breached,
    countIf(s_status NOT IN ('resolved', 'closed') AND s_escalations > 0) AS escalated,
    countIf(s_reported_at >= toDateTime(%(window)s)) AS win,
    countIf(s_reported_at >= toDateTime(%(window)s) AND s_status = 'closed') AS win_closed,
    countIf(s_reported_at >= toDateTime(%(window)s) AND s_status IN ('resolved', 'closed'))
        AS win_done,
    countIf(s_reported_at >= toDateTime(%(window)s) AND s_status = 'closed' AND s_reopened = 0
            AND s_satisfied = 1) AS win_actual,
    countIf(s_reported_at >= toDateTime(%(window)s) AND s_repeat_count > 0) AS win_repeat,
    countIf(s_reported_at >= toDateTime(%(window)s) AND s_status IN ('resolved', 'closed')
            AND s_level IN ('street', 'community', 'grid', 'micro_grid')) AS win_low,
    countIf(s_status NOT IN ('resolved', 'closed') AND s_level = 'city') AS lvl_city,
    countIf(s_status NOT IN ('resolved', 'closed') AND s_level = 'district') AS lvl_district,
    countIf(s_status NOT IN ('resolved', 'closed') AND s_level = 'street') AS lvl_street,
    countIf(s_status NOT IN ('resolved', 'closed') AND s_level = 'community') AS lvl_community,
    countIf(s_status NOT IN ('resolved', 'closed') AND s_level IN ('grid', 'micro_grid'))
        AS lvl_grid,
"""
    + Y_COUNTS
    + """
FROM ({latest})
GROUP BY district
"""
)

COUNTER_NAMES = (
    "open",
    "open_y",
    "joint",
    "joint_y",
    "breached",
    "breached_y",
    "escalated",
    "escalated_y",
    "win",
    "win_closed",
    "win_done",
    "win_actual",
    "win_repeat",
    "win_low",
    "win_y",
    "win_closed_y",
    "win_done_y",
    "win_actual_y",
    "win_repeat_y",
    "lvl_city",
    "lvl_district",
    "lvl_street",
    "lvl_community",
    "lvl_grid",
)


# the current half of COUNTER_NAMES, in _COUNTERS' column order
_NOW_NAMES = tuple(name for name in COUNTER_NAMES if name not in YESTERDAY_NAMES)


@dataclass
class IncidentCounters:
    """Counters of the wall per district; `total` sums them over the scope."""

    by_district: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> dict[str, int]:
        out = dict.fromkeys(COUNTER_NAMES, 0)
        for row in self.by_district.values():
            for name in COUNTER_NAMES:
                out[name] += row[name]
        return out


def incident_counters(client, db: str, *, now: int, scope: str | None = None) -> IncidentCounters:
    """Open/joint/breached/escalated now and at the same time yesterday, the 24-hour rates'
    numerators and denominators, and open incidents per level, per district."""
    db = check_database_name(db)
    latest = _LATEST_NARROW.format(db=db, scope=_scope(scope))
    sql = _COUNTERS.format(latest=latest)
    params = {
        "yesterday": now - 86400,
        "window": now - 86400,
        "window_y": now - 2 * 86400,
        "scope": scope,
    }
    counters = IncidentCounters()
    for row in client.execute(sql, params):
        values = dict(zip(_NOW_NAMES + YESTERDAY_NAMES, (int(v) for v in row[1:]), strict=True))
        counters.by_district[row[0]] = {name: values[name] for name in COUNTER_NAMES}
    return counters


def event_counts(client, db: str, *, today_start: int, now: int, scope: str | None = None) -> dict:
    """Events since local midnight, and over the same span of yesterday."""
    db = check_database_name(db)
    sql = f"""
    SELECT
        uniqExactIf(id, time >= toDateTime(%(today)s)) AS today,
        uniqExactIf(id, time >= toDateTime(%(yday)s) AND time < toDateTime(%(ynow)s)) AS yesterday
    FROM {db}.events
    WHERE time >= toDateTime(%(yday)s) {_scope(scope)}
    """
    params = {
        "today": today_start,
        "yday": today_start - 86400,
        "ynow": now - 86400,
        "scope": scope,
    }
    today, yesterday = client.execute(sql, params)[0]
    return {"today": int(today), "yesterday": int(yesterday)}


def freshness(client, db: str, *, now: int, scope: str | None = None) -> dict:
    """Newest stored event (by arrival) and the median delay from event time to arrival over the
    last five minutes. Looks back six hours only, so the primary key keeps it cheap; older means
    stale anyway (newest = None)."""
    db = check_database_name(db)
    sql = f"""
    SELECT
        count() AS n,
        toUnixTimestamp(max(received_at)) AS newest,
        quantileIf(0.5)(toInt64(toUnixTimestamp(received_at)) - toInt64(toUnixTimestamp(time)),
                        received_at >= toDateTime(%(recent)s)) AS lag
    FROM {db}.events
    WHERE time >= toDateTime(%(since)s) {_scope(scope)}
    """
    n, newest, lag = client.execute(
        sql, {"since": now - 6 * 3600, "recent": now - 300, "scope": scope}
    )[0]
    return {"newest": int(newest) if n else None, "lag": float(lag) if n and lag == lag else None}


def events_per_minute(client, db: str, *, now: int, scope: str | None = None) -> list[tuple]:
    """(minute unix, channel, events) over the last hour."""
    db = check_database_name(db)
    sql = f"""
    SELECT toUnixTimestamp(toStartOfMinute(time)) AS minute, channel, uniqExact(id) AS n
    FROM {db}.events
    WHERE time >= toDateTime(%(since)s) AND type = 'city.report.v1' {_scope(scope)}
    GROUP BY minute, channel
    ORDER BY minute, channel
    """
    return [
        (int(m), c or "other", int(n))
        for m, c, n in client.execute(sql, {"since": now - 3600, "scope": scope})
    ]


def event_minute_counts(client, db: str, *, since: int, until: int) -> list[tuple]:
    """(minute unix, district, channel, distinct reports) for since <= time < until: the per-hour
    cache's source for the events-per-minute chart (storage/event_hours.py)."""
    db = check_database_name(db)
    sql = f"""
    SELECT toUnixTimestamp(toStartOfMinute(time)) AS minute, district, channel, uniqExact(id)
    FROM {db}.events
    WHERE time >= toDateTime(%(since)s) AND time < toDateTime(%(until)s)
        AND type = 'city.report.v1'
    GROUP BY minute, district, channel
    """
    return client.execute(sql, {"since": since, "until": until})


def top_categories(
    client, db: str, *, since: int, limit: int = 8, scope: str | None = None
) -> list[tuple[str, int]]:
    db = check_database_name(db)
    sql = f"""
    SELECT category, uniqExact(id) AS n
    FROM {db}.events
    WHERE time >= toDateTime(%(since)s) AND type = 'city.report.v1' {_scope(scope)}
    GROUP BY category
    ORDER BY n DESC, category
    LIMIT %(limit)s
    """
    return [
        (c, int(n))
        for c, n in client.execute(sql, {"since": since, "limit": limit, "scope": scope})
    ]


def event_hour_rows(client, db: str, *, since: int) -> list[tuple[int, int]]:
    """(hour unix, rows inserted) per event hour since `since`, from `event_hours` (migration 4):
    a count that only grows when rows arrive, whatever merges remove."""
    db = check_database_name(db)
    sql = f"""
    SELECT toUnixTimestamp(hour) AS h, sum(rows) FROM {db}.event_hours
    WHERE hour >= toDateTime(%(since)s)
    GROUP BY h
    """
    return [(int(h), int(n)) for h, n in client.execute(sql, {"since": since})]


def event_hour_counts(client, db: str, *, since: int, until: int) -> list[tuple]:
    """(hour unix, district, category, is_report, distinct events) for hours in [since, until).
    Redeliveries of an event share its time, so distinct ids per hour add up over hours."""
    db = check_database_name(db)
    sql = f"""
    SELECT toUnixTimestamp(toStartOfHour(time)) AS h, district, category,
           type = 'city.report.v1' AS is_report, uniqExact(id)
    FROM {db}.events
    WHERE time >= toDateTime(%(since)s) AND time < toDateTime(%(until)s)
    GROUP BY h, district, category, is_report
    """
    return client.execute(sql, {"since": since, "until": until})


def events_between(client, db: str, *, since: int, until: int) -> list[tuple[str, int]]:
    """(district, distinct events) with since <= time < until."""
    db = check_database_name(db)
    sql = f"""
    SELECT district, uniqExact(id) FROM {db}.events
    WHERE time >= toDateTime(%(since)s) AND time < toDateTime(%(until)s)
    GROUP BY district
    """
    return [(d, int(n)) for d, n in client.execute(sql, {"since": since, "until": until})]


# The tickers show the newest dozen rows: they look back over growing windows (the newest
# minutes first, up to `since`) and read only the sort columns there; the shown rows' other
# columns are read afterwards by primary key. On 18.16 an `ORDER BY time DESC LIMIT` reads every
# row of its range (no read-in-order), so the range is what costs. `LIMIT 1 BY id` would make
# ClickHouse sort the whole range (measured at 10M events: 30-60 ms vs ~5 ms for a plain top-k),
# so the newest `_TOP_ROWS_PER_ITEM * limit` rows are read and redeliveries dropped here; only
# when those rows hold fewer than `limit` distinct items does the `LIMIT 1 BY` query run.
_TICKER_WINDOWS = (300, 1200)
_TOP_ROWS_PER_ITEM = 4


def _windows(since: int, now: int | None) -> list[int]:
    if now is None:
        return [since]
    return [start for start in (now - w for w in _TICKER_WINDOWS) if start > since] + [since]


def _first_per_key(rows, key, limit: int) -> list[tuple]:
    """The first row of each key, in the rows' order, at most `limit` (= LIMIT 1 BY … LIMIT)."""
    seen: set = set()
    out = []
    for row in rows:
        k = key(row)
        if k not in seen:
            seen.add(k)
            out.append(row)
            if len(out) == limit:
                break
    return out


def _newest(client, sql: str, params: dict, key, limit: int, by: str) -> list[tuple]:
    """The rows of `sql` (ending in ORDER BY) with LIMIT 1 BY `by` LIMIT `limit`: a plain top-k
    read first, the LIMIT 1 BY query only when the top-k holds too few distinct items."""
    k = _TOP_ROWS_PER_ITEM * limit
    rows = client.execute(f"{sql} LIMIT {k}", params)
    out = _first_per_key(rows, key, limit)
    if len(out) < limit and len(rows) == k:  # many redeliveries among the newest rows
        out = client.execute(f"{sql} LIMIT 1 BY {by} LIMIT {int(limit)}", params)
    return out


def latest_events(
    client,
    db: str,
    *,
    since: int,
    limit: int = 12,
    scope: str | None = None,
    now: int | None = None,
) -> list[dict]:
    """The newest events (reports and departments' actions) for the ticker; an event is its
    (id, source): ids are unique per source only."""
    db = check_database_name(db)
    limit = max(1, int(limit))
    newest: list[tuple] = []
    for start in _windows(since, now):
        newest = _newest(
            client,
            f"""
            SELECT id, toUnixTimestamp(time) AS t, source FROM {db}.events
            WHERE time >= toDateTime(%(since)s) {_scope(scope)}
            ORDER BY time DESC, id, source""",
            {"since": start, "scope": scope},
            lambda row: (row[0], row[2]),
            limit,
            "id, source",
        )
        if len(newest) >= limit:
            break
    if not newest:
        return []
    hour = [int(t) for _, t, _ in newest]
    # PREWHERE on the ids: only the page's rows are read from the hours' granules
    sql = f"""
    SELECT id, type, department, toUnixTimestamp(time) AS t, district, category, severity,
           title, incident_id, source
    FROM {db}.events
    PREWHERE id IN %(ids)s
    WHERE time >= toDateTime(%(lo)s) AND time <= toDateTime(%(hi)s)
    LIMIT 1 BY id, source
    """
    keys = (
        "id",
        "type",
        "department",
        "time",
        "district",
        "category",
        "severity",
        "title",
        "incident_id",
    )
    rows = client.execute(
        sql, {"lo": min(hour), "hi": max(hour), "ids": tuple({i for i, _, _ in newest})}
    )
    by_key = {(row[0], row[-1]): dict(zip(keys, row[:-1], strict=True)) for row in rows}
    return [by_key[i, s] for i, _, s in newest if (i, s) in by_key]


def latest_transitions(
    client,
    db: str,
    *,
    since: int,
    limit: int = 12,
    scope: str | None = None,
    now: int | None = None,
) -> list[dict]:
    """The newest incident changes (opened, dispatched, escalated, breached, closed …), from
    `transitions_by_time` (migration 4: the transitions keyed by time)."""
    db = check_database_name(db)
    scoped = (
        (f" AND incident_id IN (SELECT incident_id FROM {db}.incidents WHERE district = %(scope)s)")
        if scope
        else ""
    )
    keys = (
        "incident_id",
        "seq",
        "time",
        "kind",
        "from_status",
        "to_status",
        "level",
        "department",
        "reason",
    )
    limit = max(1, int(limit))
    rows: list = []
    for start in _windows(since, now):
        sql = f"""
        SELECT incident_id, seq, toUnixTimestamp(at) AS t, kind, from_status, to_status, level,
               department, reason
        FROM {db}.transitions_by_time
        WHERE at >= toDateTime(%(since)s) {scoped}
        ORDER BY at DESC, incident_id, seq DESC"""
        rows = _newest(
            client,
            sql,
            {"since": start, "scope": scope},
            lambda row: (row[0], row[1]),
            limit,
            "incident_id, seq",
        )
        if len(rows) >= limit:
            break
    return [dict(zip(keys, row, strict=True)) for row in rows]


_LATEST_WIDE = """
SELECT
    any(incident_id) AS s_id,
    argMax(status, version) AS s_status,
    argMax(level, version) AS s_level,
    argMax(unit_code, version) AS s_unit_code,
    argMax(district, version) AS s_district,
    argMax(street, version) AS s_street,
    argMax(category, version) AS s_category,
    argMax(severity, version) AS s_severity,
    argMax(title, version) AS s_title,
    argMax(lead_department, version) AS s_lead_department,
    argMax(departments, version) AS s_departments,
    argMax(joint, version) AS s_joint,
    min(reported_at) AS s_reported_at,
    argMax(accept_due, version) AS s_accept_due,
    argMax(resolve_due, version) AS s_resolve_due,
    argMax(breaches, version) AS s_breaches,
    argMax(escalations, version) AS s_escalations,
    argMax(repeat_count, version) AS s_repeat_count,
    argMax(lat, version) AS s_lat,
    argMax(lon, version) AS s_lon
FROM {db}.{table}
{prewhere}WHERE {where}
GROUP BY cityHash64(incident_id)
"""


def latest_wide(db: str, where: str, table: str = "incidents", prewhere: str = "") -> str:
    """Each incident's latest wide row (`_LATEST_WIDE`) from `table` (`incidents` or its copy
    ordered by report time, `incidents_by_report`), optionally with a PREWHERE condition."""
    return _LATEST_WIDE.format(
        db=db, table=table, where=where, prewhere=f"PREWHERE {prewhere}\n" if prewhere else ""
    )


_WIDE_KEYS = (
    "incident_id",
    "status",
    "level",
    "unit_code",
    "district",
    "street",
    "category",
    "severity",
    "title",
    "lead_department",
    "departments",
    "joint",
    "reported_at",
    "accept_due",
    "resolve_due",
    "breaches",
    "escalations",
    "repeat_count",
    "lat",
    "lon",
)
_WIDE_SELECT = """s_id, s_status, s_level, s_unit_code, s_district, s_street, s_category,
    s_severity, s_title, s_lead_department, s_departments, s_joint,
    toUnixTimestamp(s_reported_at), toUnixTimestamp(s_accept_due), toUnixTimestamp(s_resolve_due),
    s_breaches, s_escalations, s_repeat_count, s_lat, s_lon"""


def _wide_rows(rows) -> list[dict]:
    return [dict(zip(_WIDE_KEYS, row, strict=True)) for row in rows]


def severe_open(
    client, db: str, *, min_severity: int = 3, limit: int = 300, scope: str | None = None
) -> list[dict]:
    """Open incidents of severity >= min_severity (map markers), newest first."""
    db = check_database_name(db)
    where = (
        f"incident_id IN (SELECT incident_id FROM {db}.incidents "
        f"WHERE severity >= %(sev)s {_scope(scope)})"
    )
    sql = f"""
    SELECT {_WIDE_SELECT} FROM ({latest_wide(db, where)})
    WHERE s_status NOT IN ('resolved', 'closed') AND s_severity >= %(sev)s
    ORDER BY s_severity DESC, s_reported_at DESC
    LIMIT %(limit)s
    """
    return _wide_rows(client.execute(sql, {"sev": min_severity, "limit": limit, "scope": scope}))


def joint_open(client, db: str, *, limit: int = 8, scope: str | None = None) -> list[dict]:
    """Open incidents in joint handling, the ones closest to (or past) their deadline first."""
    db = check_database_name(db)
    where = (
        f"incident_id IN (SELECT incident_id FROM {db}.incidents WHERE joint = 1 {_scope(scope)})"
    )
    sql = f"""
    SELECT {_WIDE_SELECT} FROM ({latest_wide(db, where)})
    WHERE s_status NOT IN ('resolved', 'closed') AND s_joint = 1
    ORDER BY s_resolve_due, s_id
    LIMIT %(limit)s
    """
    return _wide_rows(client.execute(sql, {"limit": limit, "scope": scope}))


def tasks_of(client, db: str, incident_ids: tuple[str, ...]) -> list[dict]:
    """Latest state of each department task of the given incidents."""
    if not incident_ids:
        return []
    db = check_database_name(db)
    sql = f"""
    SELECT incident_id, department, argMax(role, version), argMax(status, version),
           toUnixTimestamp(min(assigned_at)),
           toUnixTimestamp(ifNull(argMax(accepted_at, version), toDateTime(0))),
           toUnixTimestamp(ifNull(argMax(done_at, version), toDateTime(0)))
    FROM {db}.dept_tasks
    WHERE incident_id IN %(ids)s
    GROUP BY incident_id, department
    ORDER BY incident_id, min(assigned_at), department
    """
    keys = ("incident_id", "department", "role", "status", "assigned_at", "accepted_at", "done_at")
    out = []
    for row in client.execute(sql, {"ids": tuple(incident_ids)}):
        item = dict(zip(keys, row, strict=True))
        for key in ("accepted_at", "done_at"):
            item[key] = item[key] or None
        out.append(item)
    return out


# -- drill-down -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentFilter:
    since: int
    until: int
    district: str | None = None
    street: str | None = None
    category: str | None = None
    statuses: tuple[str, ...] = ()
    min_severity: int | None = None
    text: str | None = None


# Narrow latest state for searching: only the columns a filter or the sort needs, so a 365-day
# search over a million incidents does not carry titles, departments and coordinates through
# the aggregation; the page's wide rows are read afterwards for its ids only.
_SEARCH_NARROW = """
SELECT any(incident_id) AS s_id, any(district) AS s_district, argMax(status, version) AS s_status,
    argMax(severity, version) AS s_severity, min(reported_at) AS s_reported_at{extra}
FROM {db}.incidents
WHERE {where}
GROUP BY cityHash64(incident_id)
"""
_SEARCH_EXTRA = {
    "category": ", argMax(category, version) AS s_category",
    "resolve_due": ", argMax(resolve_due, version) AS s_resolve_due",
    "text": ", argMax(title, version) AS s_title",
}


def text_bounded(flt: IncidentFilter) -> IncidentFilter:
    """A title search reads the title of every incident in its range: it looks back at most
    TEXT_SEARCH_MAX_SECONDS from the range's end."""
    if flt.text and flt.until - flt.since > TEXT_SEARCH_MAX_SECONDS:
        return replace(flt, since=flt.until - TEXT_SEARCH_MAX_SECONDS)
    return flt


def opening_terms(flt: IncidentFilter, scope: str | None) -> list[str]:
    """WHERE terms on what is fixed at an incident's opening (report time, place, category),
    so they can filter rows before any latest state is taken; values in `filter_params`."""
    where = ["reported_at >= toDateTime(%(since)s)", "reported_at < toDateTime(%(until)s)"]
    if scope:
        where.append("district = %(scope)s")
    if flt.district:
        where.append("district = %(district)s")
    if flt.street:
        where.append("street = %(street)s")
    if flt.category:
        where.append("category = %(category)s")
    return where


def filter_params(flt: IncidentFilter, scope: str | None) -> dict:
    """The bound values of a search's filter."""
    return {
        "since": flt.since,
        "until": flt.until,
        "scope": scope,
        "district": flt.district,
        "street": flt.street,
        "category": flt.category,
        "statuses": tuple(flt.statuses),
        "min_severity": flt.min_severity,
        "text": flt.text,
    }


def search_incidents(
    client,
    db: str,
    flt: IncidentFilter,
    *,
    sort: str = "reported_at",
    descending: bool = True,
    offset: int = 0,
    limit: int = 25,
    scope: str | None = None,
) -> tuple[int, list[dict]]:
    """(total matching, one page) of incidents; filtering, sorting and paging in ClickHouse.
    Attributes fixed at opening (place, category, time) filter rows before the latest state is
    taken (the primary key starts with district); status, severity and title filter it after.
    (Narrowing a title search first to ids with any matching version was measured slower on
    18.16: the extra pass over `incident_id` costs more than it saves.)"""
    db = check_database_name(db)
    flt = text_bounded(flt)
    where = opening_terms(flt, scope)
    having = ["1"]
    extra = ""
    if sort in ("category", "resolve_due"):
        extra += _SEARCH_EXTRA[sort]
    if flt.statuses:
        having.append("s_status IN %(statuses)s")
    if flt.min_severity:
        having.append("s_severity >= %(min_severity)s")
    if flt.text:
        having.append("positionCaseInsensitiveUTF8(s_title, %(text)s) > 0")
        extra += _SEARCH_EXTRA["text"]
    inner = _SEARCH_NARROW.format(db=db, where=" AND ".join(where), extra=extra)
    order = SORTABLE.get(sort, "s_reported_at") + (" DESC" if descending else " ASC")
    if order.startswith("s_reported_at"):
        order += ", s_id"
    else:
        # ties in the sort column: newest first (the default sort), then incident id — the
        # order the latest-state cache reproduces (cityops.storage.incident_search)
        order += ", s_reported_at DESC, s_id"
    params = {
        **filter_params(flt, scope),
        "offset": max(0, int(offset)),
        "limit": max(1, min(int(limit), 200)),
    }
    if having == ["1"] and sort == "reported_at":
        # Only opening attributes filter and sort: every version carries them unchanged, so no
        # latest state is needed — distinct ids for the total, the newest ids for the page.
        rows_where = " AND ".join(where)
        total = client.execute(
            f"SELECT uniqExact(incident_id) FROM {db}.incidents WHERE {rows_where}", params
        )[0][0]
        page = client.execute(
            f"SELECT incident_id, district FROM {db}.incidents WHERE {rows_where} "
            f"ORDER BY reported_at {'DESC' if descending else 'ASC'}, incident_id "
            "LIMIT 1 BY incident_id LIMIT %(offset)s, %(limit)s",
            params,
        )
    else:
        filtered = f"SELECT * FROM ({inner}) WHERE {' AND '.join(having)}"
        total = client.execute(f"SELECT count() FROM ({filtered})", params)[0][0]
        page = client.execute(
            f"SELECT s_id, s_district FROM ({filtered}) ORDER BY {order} "
            "LIMIT %(offset)s, %(limit)s",
            params,
        )
    if not page:
        return int(total), []
    # the page's wide rows by primary key (district, incident_id), in the page's order
    ids = tuple(row[0] for row in page)
    wide_where = "district IN %(districts)s AND incident_id IN %(ids)s"
    rows = client.execute(
        f"SELECT {_WIDE_SELECT} FROM ({latest_wide(db, wide_where)})",
        {"districts": tuple({row[1] for row in page}), "ids": ids},
    )
    by_id = {row[0]: row for row in rows}
    return int(total), _wide_rows(by_id[i] for i in ids if i in by_id)


_INCIDENT_COLUMNS = (
    "incident_id",
    "status",
    "level",
    "unit_code",
    "owner_unit",
    "district",
    "street",
    "community",
    "grid",
    "micro_grid",
    "category",
    "severity",
    "title",
    "lead_department",
    "departments",
    "joint",
    "reported_at",
    "accepted_at",
    "resolved_at",
    "closed_at",
    "accept_due",
    "resolve_due",
    "escalations",
    "breaches",
    "repeat_count",
    "reopened",
    "satisfied",
    "lat",
    "lon",
    "version",
    "updated_at",
)
_TIME_COLUMNS = {
    "reported_at",
    "accepted_at",
    "resolved_at",
    "closed_at",
    "accept_due",
    "resolve_due",
    "updated_at",
}


def district_of_id(incident_id: str) -> str | None:
    """The district adcode an incident id starts with (ids are `<street or district code>-<hash>`,
    streams/incidents/logic.py), or None. Lets a lookup by id use the primary key
    (district, incident_id) instead of scanning every id."""
    head, sep, _ = incident_id.partition("-")
    return head[:6] if sep and head.isdigit() and len(head) >= 6 else None


def incident(client, db: str, incident_id: str, *, scope: str | None = None) -> dict | None:
    """The latest version of one incident, or None (also when outside the officer's scope)."""
    db = check_database_name(db)
    cols = ", ".join(
        f"toUnixTimestamp(ifNull({c}, toDateTime(0)))" if c in _TIME_COLUMNS else c
        for c in _INCIDENT_COLUMNS
    )
    home = district_of_id(incident_id)
    by_key = " AND district = %(home)s" if home else ""
    sql = f"""
    SELECT {cols} FROM {db}.incidents
    WHERE incident_id = %(id)s {by_key} {_scope(scope)}
    ORDER BY version DESC LIMIT 1
    """
    rows = client.execute(sql, {"id": incident_id, "scope": scope, "home": home})
    if not rows:
        return None
    item = dict(zip(_INCIDENT_COLUMNS, rows[0], strict=True))
    for key in _TIME_COLUMNS:
        item[key] = item[key] or None
    return item


def transitions(client, db: str, incident_id: str) -> list[dict]:
    """The full timeline of one incident (call after `incident()` has checked the scope)."""
    db = check_database_name(db)
    sql = f"""
    SELECT seq, toUnixTimestamp(at), kind, from_status, to_status, level, unit_code, department,
           actor, reason, event_id
    FROM {db}.incident_transitions
    WHERE incident_id = %(id)s
    ORDER BY seq
    LIMIT 1 BY seq
    """
    keys = (
        "seq",
        "time",
        "kind",
        "from_status",
        "to_status",
        "level",
        "unit_code",
        "department",
        "actor",
        "reason",
        "event_id",
    )
    return [dict(zip(keys, row, strict=True)) for row in client.execute(sql, {"id": incident_id})]


_EVENT_KEYS = (
    "id",
    "type",
    "source",
    "time",
    "received_at",
    "channel",
    "severity",
    "title",
    "payload",
)
_EVENT_COLUMNS = """id, type, source, toUnixTimestamp(time), toUnixTimestamp(received_at), channel,
           severity, title, payload"""


def incident_events_scan(
    client, db: str, incident_id: str, *, since: int, limit: int = 200
) -> list[dict]:
    """`incident_events` as one scan of `events` since `since` (the reference answer; without
    migration 5's lookup table)."""
    db = check_database_name(db)
    sql = f"""
    SELECT {_EVENT_COLUMNS}
    FROM {db}.events
    WHERE incident_id = %(id)s AND time >= toDateTime(%(since)s)
    ORDER BY time, id
    LIMIT 1 BY id
    LIMIT %(limit)s
    """
    return [
        dict(zip(_EVENT_KEYS, row, strict=True))
        for row in client.execute(sql, {"id": incident_id, "since": since, "limit": limit})
    ]


def incident_events(
    client, db: str, incident_id: str, *, since: int, limit: int = 200
) -> list[dict]:
    """The raw events linked to one incident (reports, repeats, departments' actions), oldest
    first: their (time, id) from `incident_event_ids` (migration 5) by primary key, then the
    events by theirs, (hour, id): one time range and id list per run of nearby events."""
    db = check_database_name(db)
    found = client.execute(
        f"""
        SELECT toUnixTimestamp(time) AS t, id FROM {db}.incident_event_ids
        WHERE incident_id = %(id)s AND time >= toDateTime(%(since)s)
        ORDER BY time, id
        LIMIT 1 BY id
        LIMIT %(limit)s
        """,
        {"id": incident_id, "since": since, "limit": max(1, int(limit))},
    )  # [(time, id)] in the answer's order
    if not found:
        return []
    # runs of events less than an hour apart: each run is one primary-key range of `events`
    runs: list[list] = []  # [first time, last time, ids]
    for t, event_id in found:
        if runs and int(t) - runs[-1][1] < 3600:
            runs[-1][1] = int(t)
            runs[-1][2].append(event_id)
        else:
            runs.append([int(t), int(t), [event_id]])
    # the incident's own rows only: ids are unique per source, so another department's event
    # may carry the same id (and time) while belonging to another incident
    params: dict = {"incident": incident_id}
    terms = []
    for n, (lo, hi, ids) in enumerate(runs):
        params.update({f"lo{n}": lo, f"hi{n}": hi, f"ids{n}": tuple(ids)})
        terms.append(
            f"(time >= toDateTime(%(lo{n})s) AND time <= toDateTime(%(hi{n})s)"
            f" AND id IN %(ids{n})s)"
        )
    sql = f"""
    SELECT {_EVENT_COLUMNS}
    FROM {db}.events
    WHERE incident_id = %(incident)s AND ({" OR ".join(terms)})
    ORDER BY time, id
    LIMIT 1 BY id
    """
    by_id = {row[0]: row for row in client.execute(sql, params)}
    return [dict(zip(_EVENT_KEYS, by_id[i], strict=True)) for _, i in found if i in by_id]


def district_streets(client, db: str, district: str) -> list[dict]:
    """Open and all incidents per street of one district (the district page)."""
    db = check_database_name(db)
    sql = f"""
    SELECT s_street, countIf(s_status NOT IN ('resolved', 'closed')) AS open, count() AS total,
           countIf(s_status NOT IN ('resolved', 'closed') AND s_breaches > 0) AS breached
    FROM (
        SELECT argMax(street, version) AS s_street, argMax(status, version) AS s_status,
               argMax(breaches, version) AS s_breaches
        FROM {db}.incidents WHERE district = %(district)s GROUP BY cityHash64(incident_id)
    )
    GROUP BY s_street ORDER BY open DESC, s_street
    """
    keys = ("street", "open", "total", "breached")
    return [
        dict(zip(keys, row, strict=True)) for row in client.execute(sql, {"district": district})
    ]


def ping(client) -> bool:
    return client.execute("SELECT 1")[0][0] == 1
