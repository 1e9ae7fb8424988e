"""Silent feeds (early warning, docs/early-warning.md): the latest state of each watched feed from
`feed_states` (one row per change, written by the readings agent), for the wall's "since HH:MM".
Runs on ClickHouse 18.16 and current ClickHouse.
"""

from __future__ import annotations

from datetime import datetime

from cityops.storage.client import check_database_name


def silent_feeds(client, database: str) -> list[tuple[str, datetime]]:
    """(department, silent since) of every feed silent now, the longest silent first."""
    db = check_database_name(database)
    rows = client.execute(
        f"SELECT department, argMax(silent, version) AS silent, "
        f"argMax(silent_since, version) AS since FROM {db}.feed_states "
        "GROUP BY department HAVING silent = 1 ORDER BY since, department"
    )
    return [(department, since) for department, _, since in rows if since is not None]
