"""Resident-unit claims (docs/claims.md) read back from ClickHouse: the latest state of every item
(one row per change in `claims`, the latest by `version`), an item's history, and the counts per
district. Every value a bound parameter; runs on ClickHouse 18.16 and current ClickHouse.
"""

from __future__ import annotations

from datetime import datetime

from cityops.storage.client import check_database_name
from cityops.storage.tables import CLAIMS

# The state columns, each the value of the latest version (item_id is the group key). Aliases
# must differ from column names: on 18.16 an alias equal to a column replaces it inside the other
# aggregates ("argMax(version, version) is found inside another aggregate function").
_STATE = [name for name, _ in CLAIMS if name != "item_id"]
_LATEST = ", ".join(f"argMax({name}, version) AS last_{name}" for name in _STATE)
COUNT_NAMES = ("published", "claimed", "completed", "confirmed")


def latest_claims(client, database: str, district: str | None = None) -> list[dict]:
    """Every item's latest state (of one district, or all), newest change first."""
    db = check_database_name(database)
    where, params = "", {}
    if district is not None:
        where, params = "WHERE district = %(district)s", {"district": district}
    rows = client.execute(
        f"SELECT item_id, {_LATEST} FROM {db}.claims {where} "
        "GROUP BY item_id ORDER BY last_updated_at DESC, item_id",
        params,
    )
    return [dict(zip(["item_id", *_STATE], row, strict=True)) for row in rows]


def claim_history(
    client, database: str, item_ids: list[str]
) -> dict[str, list[tuple[int, datetime, str, str, str, str, str]]]:
    """item_id → its transitions (seq, at, verb, from, to, actor, comment) in order."""
    if not item_ids:
        return {}
    db = check_database_name(database)
    rows = client.execute(
        f"SELECT DISTINCT item_id, seq, at, verb, from_status, to_status, actor, comment "
        f"FROM {db}.claim_transitions WHERE item_id IN %(ids)s ORDER BY item_id, seq",
        {"ids": tuple(item_ids)},
    )
    history: dict[str, list] = {}
    for item_id, *rest in rows:
        history.setdefault(item_id, []).append(tuple(rest))
    return history


def district_counts(items: list[dict]) -> dict[str, dict[str, int]]:
    """district → {published, claimed, completed, confirmed}: items ever published, claimed
    (by a unit, whatever happened next), completed (reported done at least once: done or
    confirmed) and confirmed. From `latest_claims` rows (the in-memory twin of the page's SQL)."""
    counts: dict[str, dict[str, int]] = {}
    for item in items:
        row = counts.setdefault(item["district"], dict.fromkeys(COUNT_NAMES, 0))
        status = item["status"]
        row["published"] += 1
        row["claimed"] += status != "published"
        row["completed"] += status in ("done", "confirmed")
        row["confirmed"] += status == "confirmed"
    return counts
