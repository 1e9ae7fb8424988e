"""The gateway's ClickHouse reads (Open311 status of service requests). Every value is a bound
parameter; only the database name, whitelisted by check_database_name, is formatted in.
Portable to ClickHouse 18.16: the latest state of storage/latest.py, tuples after IN (not lists).

Public reads (`opened_by_prefix`) keep only incidents opened by a report whose id starts with the
prefix: the Open311 intake gives its reports such ids, and the engine keeps the opening report's
id as `opened_by` in every row's `state` (streams/incidents/model.py; encode_state in
streams/incidents/rows.py). Every read is bounded: a LIMIT, and at most MAX_SECONDS of server
time (a slower read fails instead of running on)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cityops.storage.client import check_database_name
from cityops.storage.latest import select

REQUEST_COLUMNS = (
    "incident_id",
    "status",
    "category",
    "title",
    "lead_department",
    "district",
    "street",
    "unit_code",
    "micro_grid",
    "level",
    "lat",
    "lon",
    "reported_at",
    "updated_at",
    "resolve_due",
    "resolved_at",
    "closed_at",
    "escalations",
    "reopened",
)

# Identity columns never change for an incident, so they are filtered before grouping (cheap);
# the mutable status after it. Aliases must not shadow column names: ClickHouse would then see
# the aggregate inside WHERE.
_REQUESTS = f"""
SELECT
    incident_id,
    {select(REQUEST_COLUMNS[1:], "last_")}
FROM {{db}}.incidents
WHERE {{where}}
GROUP BY incident_id
{{having}}
ORDER BY last_reported_at DESC, incident_id
LIMIT %(limit)s
"""

_INCIDENT_OF_EVENT = """
SELECT incident_id FROM {db}.events
WHERE id = %(event_id)s AND incident_id != ''
LIMIT 1
"""

_EVENT_SEEN = "SELECT count() FROM {db}.events WHERE id = %(event_id)s"

# The photo of each incident: the media_url of its first report that has one. `"media_url":`
# appears verbatim only as a key (a quote inside a string value is escaped).
_MEDIA = """
SELECT incident_id, visitParamExtractString(payload, 'media_url') AS media
FROM {db}.events
WHERE time >= toDateTime(%(since)s) AND incident_id IN %(ids)s AND type = 'city.report.v1'
  AND position(payload, '"media_url":') > 0 {only}
ORDER BY time, id
"""

MAX_SECONDS = 5
_BOUNDED = {"max_execution_time": MAX_SECONDS}


def service_requests(
    client: Any,
    database: str,
    *,
    ids: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    statuses: tuple[str, ...] = (),
    limit: int = 1000,
    opened_by_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """Latest state of incidents matching the Open311 filters, newest first. Datetimes are naive
    UTC (the server's time zone), as ClickHouse stores them. With `opened_by_prefix`, only
    incidents whose opening report's id starts with it."""
    db = check_database_name(database)
    where = ["1 = 1"]
    params: dict[str, Any] = {"limit": int(limit)}
    if opened_by_prefix is not None:
        # The state is msgspec's compact JSON: `"opened_by":"<id>"` appears verbatim, and a quote
        # inside any string value is escaped, so no title can fake it. position() reads the
        # column about twice as fast as visitParamExtractString.
        where.append("position(state, %(opened_by)s) > 0")
        params["opened_by"] = '"opened_by":' + json.dumps(opened_by_prefix)[:-1]
    if ids:
        where.append("incident_id IN %(ids)s")
        params["ids"] = tuple(ids)
    if categories:
        where.append("category IN %(categories)s")
        params["categories"] = tuple(categories)
    if start is not None:
        where.append("reported_at >= %(start)s")
        params["start"] = start
    if end is not None:
        where.append("reported_at <= %(end)s")
        params["end"] = end
    having = ""
    if statuses:
        having = "HAVING last_status IN %(statuses)s"
        params["statuses"] = tuple(statuses)
    sql = _REQUESTS.format(db=db, where=" AND ".join(where), having=having)
    rows = client.execute(sql, params, settings=_BOUNDED)
    return [dict(zip(REQUEST_COLUMNS, row, strict=True)) for row in rows]


def media_urls(
    client: Any,
    database: str,
    ids: tuple[str, ...],
    since: datetime,
    *,
    reported_by_prefix: str | None = None,
) -> dict[str, str]:
    """{incident id: the media_url of its first report with one}, among reports since `since`
    (the incidents' earliest reported_at: the time bound lets ClickHouse skip older parts).
    With `reported_by_prefix`, only reports whose event id starts with it."""
    if not ids:
        return {}
    db = check_database_name(database)
    params: dict[str, Any] = {"ids": tuple(ids), "since": since}
    only = ""
    if reported_by_prefix is not None:
        only = "AND substring(id, 1, %(prefix_length)s) = %(prefix)s"  # 18.16: no startsWith
        params.update(prefix=reported_by_prefix, prefix_length=len(reported_by_prefix))
    rows = client.execute(_MEDIA.format(db=db, only=only), params, settings=_BOUNDED)
    found: dict[str, str] = {}
    for incident_id, url in rows:
        if url:
            found.setdefault(incident_id, url)
    return found


def incident_of_event(client: Any, database: str, event_id: str) -> tuple[bool, str | None]:
    """(whether the platform has stored the event, the incident it opened or joined)."""
    db = check_database_name(database)
    rows = client.execute(
        _INCIDENT_OF_EVENT.format(db=db), {"event_id": event_id}, settings=_BOUNDED
    )
    if rows:
        return True, rows[0][0]
    seen = client.execute(_EVENT_SEEN.format(db=db), {"event_id": event_id}, settings=_BOUNDED)
    return bool(seen and seen[0][0]), None
