"""The report's reads (CONTRACT §12): per district or street, the incidents reported in a period
with their state as it stood at the period's end (the newest version written before it), counted
by the measures of storage/measures.py; the events of the period; and each incident's stage times
for the funnel. Only the period's data is read, so a past period's report is reproducible.
Every value a bound parameter; runs on ClickHouse 18.16 and current.
"""

from __future__ import annotations

from datetime import datetime

from cityops.storage import measures
from cityops.storage.client import check_database_name
from cityops.storage.latest import scope_term

GROUPS = ("district", "street")
_STATE_COLUMNS = ("status", "breaches", "repeat_count", "callback", "unsolved", "satisfied",
                  "level", "joint", "escalations", "reopened", "merged_into")  # fmt: skip

# The newest version written before the period's end; where merges of the ReplacingMergeTree
# already dropped every such version, the oldest version kept (docs/reports.md). The place is
# fixed at opening.
_BEFORE_END = "updated_at < toDateTime(%(end)s)"
_AS_OF_END = (
    f"if(countIf({_BEFORE_END}) > 0, argMaxIf({{c}}, version, {_BEFORE_END}), "
    "argMin({c}, version))"
)
# Aggregates skip NULLs: an answer given after the period's end would otherwise show through a
# version without one (measured on 18.16), so NULL travels as -1 through the aggregate.
_NULLABLE = {"satisfied"}


def _as_of_end(column: str) -> str:
    if column in _NULLABLE:
        value = _AS_OF_END.format(c=f"ifNull(toInt16({column}), -1)")
        return f"nullIf({value}, -1)"
    return _AS_OF_END.format(c=column)


_STATE = """
SELECT any(district) AS s_district, any(street) AS s_street,
    {columns}
FROM {db}.incidents
WHERE reported_at >= toDateTime(%(start)s) AND reported_at < toDateTime(%(end)s){scope}
GROUP BY incident_id
"""

_COUNTS = """
SELECT s_{group} AS key,
{report},
{loop}
FROM ({state})
GROUP BY key
ORDER BY key
"""

_EVENTS = """
SELECT {group} AS key, uniqExact(id) AS events
FROM {db}.events
WHERE time >= toDateTime(%(start)s) AND time < toDateTime(%(end)s){scope}
GROUP BY key
ORDER BY key
"""

_STAGE_TIMES = """
SELECT any(district) AS s_district, any(street) AS s_street, incident_id,
    toUnixTimestamp(min(reported_at)),
    toUnixTimestamp(argMax(accept_due, version)),
    toUnixTimestamp(argMax(resolve_due, version))
FROM {db}.incidents
WHERE reported_at >= toDateTime(%(start)s) AND reported_at < toDateTime(%(end)s){scope}
GROUP BY incident_id
HAVING {counted}
ORDER BY incident_id
"""

_TRANSITIONS = """
SELECT incident_id,
    toUnixTimestamp(minIf(at, kind = 'dispatched')),
    toUnixTimestamp(minIf(at, kind = 'accepted')),
    toUnixTimestamp(minIf(at, kind = 'resolved')),
    toUnixTimestamp(minIf(at, kind = 'closed')),
    countIf(kind = 'callback_overdue')
FROM {db}.incident_transitions
WHERE at < toDateTime(%(end)s) AND incident_id IN (
    SELECT incident_id FROM {db}.incidents
    WHERE reported_at >= toDateTime(%(start)s) AND reported_at < toDateTime(%(end)s){scope})
GROUP BY incident_id
"""


def _params(start: datetime, end: datetime, scope: str | None) -> dict:
    return {"start": int(start.timestamp()), "end": int(end.timestamp()), "scope": scope}


def _check(group: str) -> None:
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, not {group!r}")


def unit_counts(
    client, database: str, group: str, start: datetime, end: datetime, scope: str | None = None
) -> dict[str, dict[str, int]]:
    """Per district or street: the report counters and the loop counters (storage/measures.py)
    of the incidents reported in [start, end), as they stood at `end`."""
    _check(group)
    db = check_database_name(database)
    columns = ",\n    ".join(f"{_as_of_end(c)} AS s_{c}" for c in _STATE_COLUMNS)
    state = _STATE.format(columns=columns, db=db, scope=scope_term(scope))
    sql = _COUNTS.format(
        group=group,
        report=measures.report_counts_sql(),
        loop=measures.loop_counts_sql(),
        state=state,
    )
    names = measures.REPORT_NAMES + measures.LOOP_NAMES
    return {
        key: {name: int(v) for name, v in zip(names, values, strict=True)}
        for key, *values in client.execute(sql, _params(start, end, scope))
    }


def unit_events(
    client, database: str, group: str, start: datetime, end: datetime, scope: str | None = None
) -> dict[str, int]:
    """Per district or street: distinct events whose time falls in [start, end)."""
    _check(group)
    db = check_database_name(database)
    sql = _EVENTS.format(group=group, db=db, scope=scope_term(scope))
    return {key: int(n) for key, n in client.execute(sql, _params(start, end, scope))}


def stage_times(
    client, database: str, group: str, start: datetime, end: datetime, scope: str | None = None
) -> dict[str, list[dict]]:
    """Per district or street: each incident's stage times (storage/report_rows.py `funnel`)."""
    _check(group)
    db = check_database_name(database)
    params = _params(start, end, scope)
    moves = {
        row[0]: row[1:]
        for row in client.execute(_TRANSITIONS.format(db=db, scope=scope_term(scope)), params)
    }
    out: dict[str, list[dict]] = {}
    # a duplicate merged into another incident by the period's end is no matter of its own
    counted = measures.counted_sql({"merged_into": _as_of_end("merged_into")})
    sql = _STAGE_TIMES.format(db=db, scope=scope_term(scope), counted=counted)
    rows = client.execute(sql, params)
    for district, street, incident_id, reported, accept_due, resolve_due in rows:
        dispatched, accepted, resolved, callback, overdue = moves.get(incident_id, (0,) * 5)
        out.setdefault(district if group == "district" else street, []).append(
            {
                "reported": reported,
                "dispatched": dispatched or None,
                "accepted": accepted or None,
                "resolved": resolved or None,
                "callback": callback or None,
                "accept_due": accept_due,
                "resolve_due": resolve_due,
                "callback_overdue": bool(overdue),
            }
        )
    return out
