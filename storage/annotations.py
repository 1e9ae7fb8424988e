"""The `annotations` table (migration 10): warning periods (a rainstorm alert, a festival) that
shade the wall's time series, one row per `city.annotation.v1` event. Bound parameters only; runs
on ClickHouse 18.16 and current ClickHouse.
"""

from __future__ import annotations

import datetime as dt

from cityops.storage.client import check_database_name
from cityops.storage.tables import ANNOTATIONS

COLUMNS = tuple(name for name, _ in ANNOTATIONS)


def insert_annotation(client, db: str, row: dict) -> None:
    """One annotation; datetimes naive UTC."""
    db = check_database_name(db)
    client.execute(
        f"INSERT INTO {db}.annotations ({', '.join(COLUMNS)}) VALUES",
        [tuple(row[name] for name in COLUMNS)],
    )


def annotations_overlapping(
    client, db: str, *, since: int, until: int, scope: str | None = None, limit: int = 50
) -> list[dict]:
    """Annotations whose period overlaps [since, until] (unix seconds), newest start first: the
    city-wide ones and, with `scope`, that district's only (without, every district's)."""
    db = check_database_name(db)
    where = "start <= toDateTime(%(until)s) AND end >= toDateTime(%(since)s)"
    params: dict = {"since": int(since), "until": int(until), "limit": int(limit)}
    if scope is not None:
        where += " AND district IN ('', %(scope)s)"
        params["scope"] = scope
    rows = client.execute(
        f"SELECT id, any(department), any(actor), any(kind), any(label), any(district),"
        f" toUnixTimestamp(any(start)), toUnixTimestamp(any(end))"
        f" FROM {db}.annotations WHERE {where} GROUP BY id"
        f" ORDER BY 7 DESC, id LIMIT %(limit)s",
        params,
    )
    keys = ("id", "department", "actor", "kind", "label", "district", "start", "end")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC).replace(tzinfo=None)
