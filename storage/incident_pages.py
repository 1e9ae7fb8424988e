"""The drill-down's pages: one incident (its latest version, timeline, department tasks and raw
events) and a district's streets. Bound parameters only; times as unix seconds; `scope` keeps an
officer inside their district in SQL. All SQL runs on ClickHouse 18.16 and on current ClickHouse.
"""

from __future__ import annotations

from cityops.storage import measures
from cityops.storage.client import check_database_name
from cityops.storage.latest import GROUP_KEY, latest, scope_term

_INCIDENT_COLUMNS = (
    "incident_id", "status", "level", "unit_code", "owner_unit", "district", "street",
    "community", "grid", "micro_grid", "category", "severity", "title", "lead_department",
    "departments", "joint", "reported_at", "accepted_at", "resolved_at", "closed_at",
    "accept_due", "resolve_due", "escalations", "breaches", "repeat_count", "reopened",
    "satisfied", "lat", "lon", "version", "updated_at",
)  # fmt: skip
# Closing the loop (migration 6): returns counted, the callback's state, and a pending return
# (who returned the task and why; '' when none waits) from the engine's state snapshot.
_LOOP_COLUMNS = {
    "returns": "returns",
    "callback": "callback",
    "returned_by": "visitParamExtractString(state, 'returned_by')",
    "return_reason": "visitParamExtractString(state, 'return_reason')",
}
_TIME_COLUMNS = {
    "reported_at", "accepted_at", "resolved_at", "closed_at", "accept_due", "resolve_due",
    "updated_at",
}  # fmt: skip


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
        [
            f"toUnixTimestamp(ifNull({c}, toDateTime(0)))" if c in _TIME_COLUMNS else c
            for c in _INCIDENT_COLUMNS
        ]
        + list(_LOOP_COLUMNS.values())
    )
    home = district_of_id(incident_id)
    by_key = " AND district = %(home)s" if home else ""
    sql = f"""
    SELECT {cols} FROM {db}.incidents
    WHERE incident_id = %(id)s {by_key} {scope_term(scope)}
    ORDER BY version DESC LIMIT 1
    """
    rows = client.execute(sql, {"id": incident_id, "scope": scope, "home": home})
    if not rows:
        return None
    item = dict(zip(_INCIDENT_COLUMNS + tuple(_LOOP_COLUMNS), rows[0], strict=True))
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
        "seq", "time", "kind", "from_status", "to_status", "level", "unit_code", "department",
        "actor", "reason", "event_id",
    )  # fmt: skip
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
    cols = {"status": "s_status", "breaches": "s_breaches", "merged_into": "s_merged_into"}
    counted = measures.counted_sql(cols)  # a merged duplicate is no matter of its own
    is_open = measures.condition_sql("open", cols)
    breached = measures.condition_sql("breached", cols)
    sql = f"""
    SELECT s_street, countIf({counted} AND {is_open}) AS open, countIf({counted}) AS total,
           countIf({counted} AND {is_open} AND {breached}) AS breached
    FROM (
        SELECT {latest("street")} AS s_street, {latest("status")} AS s_status,
               {latest("breaches")} AS s_breaches, {latest("merged_into")} AS s_merged_into
        FROM {db}.incidents WHERE district = %(district)s GROUP BY {GROUP_KEY}
    )
    GROUP BY s_street ORDER BY open DESC, s_street
    """
    keys = ("street", "open", "total", "breached")
    return [
        dict(zip(keys, row, strict=True)) for row in client.execute(sql, {"district": district})
    ]


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
