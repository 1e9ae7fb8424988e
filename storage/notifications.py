"""The `notifications` table (migration 8): every attempt of the notifier (streams/notify/) to
deliver one notification to one target, and the reads of it — which notifications already reached
their end (so a re-delivered incident update sends nothing twice) and an incident's attempts for
its page. Bound parameters only; runs on ClickHouse 18.16 and on current ClickHouse.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from cityops.storage.client import check_database_name
from cityops.storage.tables import NOTIFICATIONS

COLUMNS = tuple(name for name, _ in NOTIFICATIONS)
FINAL_STATUSES = ("delivered", "failed", "gave_up")


def insert_attempts(client, db: str, rows: Iterable[tuple]) -> None:
    """Rows as tuples in COLUMNS order (`at` a naive UTC datetime)."""
    db = check_database_name(db)
    rows = list(rows)
    if rows:
        client.execute(f"INSERT INTO {db}.notifications ({', '.join(COLUMNS)}) VALUES", rows)


def finished(
    client, db: str, incident_ids: Iterable[str], keys: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Of the (notification_id, target) `keys`, those with a final attempt stored (delivered,
    failed or given up); `incident_ids` are their incidents (the table's leading key)."""
    db = check_database_name(db)
    wanted = set(keys)
    ids = sorted(set(incident_ids))
    if not wanted or not ids:
        return set()
    sql = f"""
    SELECT DISTINCT notification_id, target FROM {db}.notifications
    WHERE incident_id IN %(ids)s AND status IN %(final)s
    """
    rows = client.execute(sql, {"ids": tuple(ids), "final": FINAL_STATUSES})
    return {(n, t) for n, t in rows} & wanted


def attempts_of(client, db: str, incident_id: str, limit: int = 500) -> list[dict]:
    """One incident's attempts, oldest first (`time` in unix seconds). Targets are names only:
    the table never holds a url or a secret."""
    db = check_database_name(db)
    sql = f"""
    SELECT toUnixTimestamp(at), notification_id, trigger, target, kind, attempt, status,
           http_status, error
    FROM {db}.notifications
    WHERE incident_id = %(id)s
    ORDER BY at, attempt
    LIMIT %(limit)s
    """
    keys = (
        "time", "notification_id", "trigger", "target", "kind", "attempt", "status",
        "http_status", "error",
    )  # fmt: skip
    rows = client.execute(sql, {"id": incident_id, "limit": int(limit)})
    return [dict(zip(keys, row, strict=True)) for row in rows]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
