"""The wall's sensor board: the latest reading of each sensor of the watched metrics over the last
minutes (`readings`, migration 7). Thresholds are the operators' rules (deploy/config/rules.toml);
the dashboard compares. Runs on ClickHouse 18.16 and current ClickHouse.
"""

from __future__ import annotations

from cityops.storage.client import check_database_name


def latest_readings(
    client, database: str, *, metrics: tuple[str, ...], since: int, limit: int = 2000
) -> list[dict]:
    """{sensor_id, metric, department, value, time, district, street, micro_grid} of the newest
    reading per (sensor, metric, department) at or after `since`, metrics in `metrics` only."""
    if not metrics:
        return []
    db = check_database_name(database)
    rows = client.execute(
        f"SELECT sensor_id, metric, department, argMax(value, time), toUnixTimestamp(max(time)),"
        f" argMax(district, time), argMax(street, time), argMax(micro_grid, time)"
        f" FROM {db}.readings WHERE time >= toDateTime(%(since)s) AND metric IN %(metrics)s"
        f" GROUP BY sensor_id, metric, department ORDER BY sensor_id, metric LIMIT %(limit)s",
        {"since": int(since), "metrics": tuple(metrics), "limit": int(limit)},
    )
    keys = ("sensor_id", "metric", "department", "value", "time", "district", "street",
            "micro_grid")  # fmt: skip
    return [dict(zip(keys, row, strict=True)) for row in rows]
