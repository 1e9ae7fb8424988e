"""The wall's event queries: events today, freshness, events per minute, top categories, the
per-hour counts its event cache (dashboard/cache/event_hours.py) keeps, and the tickers' newest
events and incident changes. Bound parameters only; times as unix seconds; `scope` restricts a
query to one district in SQL. All SQL runs on ClickHouse 18.16 and on current ClickHouse.
"""

from __future__ import annotations

from cityops.storage.client import check_database_name
from cityops.storage.latest import scope_term


def event_counts(client, db: str, *, today_start: int, now: int, scope: str | None = None) -> dict:
    """Events since local midnight, and over the same span of yesterday."""
    db = check_database_name(db)
    sql = f"""
    SELECT
        uniqExactIf(id, time >= toDateTime(%(today)s)) AS today,
        uniqExactIf(id, time >= toDateTime(%(yday)s) AND time < toDateTime(%(ynow)s)) AS yesterday
    FROM {db}.events
    WHERE time >= toDateTime(%(yday)s) {scope_term(scope)}
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
    WHERE time >= toDateTime(%(since)s) {scope_term(scope)}
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
    WHERE time >= toDateTime(%(since)s) AND type = 'city.report.v1' {scope_term(scope)}
    GROUP BY minute, channel
    ORDER BY minute, channel
    """
    return [
        (int(m), c or "other", int(n))
        for m, c, n in client.execute(sql, {"since": now - 3600, "scope": scope})
    ]


def event_minute_counts(client, db: str, *, since: int, until: int) -> list[tuple]:
    """(minute unix, district, channel, distinct reports) for since <= time < until: the per-hour
    cache's source for the events-per-minute chart (dashboard/cache/event_hours.py)."""
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
    WHERE time >= toDateTime(%(since)s) AND type = 'city.report.v1' {scope_term(scope)}
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


def _newest_since(client, sql: str, scope, key, limit: int, *, since: int, now) -> list[tuple]:
    """`_newest` over growing windows back to `since` until one holds `limit` items; `key` is
    (the item of a row, the same as LIMIT 1 BY columns)."""
    rows: list = []
    for start in _windows(since, now):
        rows = _newest(client, sql, {"since": start, "scope": scope}, key[0], limit, key[1])
        if len(rows) >= limit:
            break
    return rows


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
    sql = f"""
    SELECT id, toUnixTimestamp(time) AS t, source FROM {db}.events
    WHERE time >= toDateTime(%(since)s) {scope_term(scope)}
    ORDER BY time DESC, id, source"""
    key = (lambda row: (row[0], row[2]), "id, source")
    newest = _newest_since(client, sql, scope, key, limit, since=since, now=now)
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
        "id", "type", "department", "time", "district", "category", "severity", "title",
        "incident_id",
    )  # fmt: skip
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
    inside = f"SELECT incident_id FROM {db}.incidents WHERE 1 {scope_term(scope)}"
    scoped = f" AND incident_id IN ({inside})" if scope else ""
    keys = (
        "incident_id", "seq", "time", "kind", "from_status", "to_status", "level", "department",
        "reason",
    )  # fmt: skip
    limit = max(1, int(limit))
    sql = f"""
    SELECT incident_id, seq, toUnixTimestamp(at) AS t, kind, from_status, to_status, level,
           department, reason
    FROM {db}.transitions_by_time
    WHERE at >= toDateTime(%(since)s) {scoped}
    ORDER BY at DESC, incident_id, seq DESC"""
    key = (lambda row: (row[0], row[1]), "incident_id, seq")
    rows = _newest_since(client, sql, scope, key, limit, since=since, now=now)
    return [dict(zip(keys, row, strict=True)) for row in rows]
