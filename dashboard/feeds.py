"""Silent feeds as the wall names and uses them (pure). A feed's name is its department's code
(`iot`), or for a sensor group `<department>/<metric>`, `<department>/<prefix>*` or
`<department>/<metric>/<prefix>*` (deploy/config/rules.toml `[[feed]]`, docs/early-warning.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from cityops.schemas.taxonomy import DEPARTMENTS


class FeedName(NamedTuple):
    department: str
    metric: str = ""
    sensor_prefix: str = ""


def split_feed(name: str) -> FeedName:
    department, *rest = name.split("/")
    metric = next((part for part in rest if not part.endswith("*")), "")
    prefix = next((part[:-1] for part in rest if part.endswith("*")), "")
    return FeedName(department, metric, prefix)


def feed_label(name: str) -> tuple[str, str]:
    """(zh, en) of a feed: its department's name, and the group when it is one."""
    feed = split_feed(name)
    unit = DEPARTMENTS.get(feed.department)
    zh, en = (unit.name_zh, unit.name_en) if unit else (feed.department, feed.department)
    group = " ".join(
        part for part in (feed.metric, f"{feed.sensor_prefix}*" if feed.sensor_prefix else "")
        if part
    )  # fmt: skip
    if group:
        zh, en = f"{zh}·{group}", f"{en} · {group}"
    return zh, en


def _covers(feed: FeedName, department: str, metric: str, sensor_id: str | None) -> bool:
    if feed.department != department or (feed.metric and feed.metric != metric):
        return False
    if sensor_id is None:  # a whole metric of the department: a prefix group is only a part
        return not feed.sensor_prefix
    return sensor_id.startswith(feed.sensor_prefix)


def silent_since(
    silent: list[tuple[str, datetime]],
    department: str,
    metric: str,
    sensor_id: str | None = None,
) -> datetime | None:
    """Since when the readings of `department`'s `metric` (of one sensor, with `sensor_id`) are
    cut off: the earliest `since` of the silent feeds (the department's own, or a sensor group
    holding them) that carry them; None while they flow."""
    times = [
        since for name, since in silent if _covers(split_feed(name), department, metric, sensor_id)
    ]
    return min(times) if times else None


def rule_silent_since(
    silent: list[tuple[str, datetime]], metric: str, departments: tuple[str, ...]
) -> datetime | None:
    """Since when a rule reads nothing: every department it reads is cut off for its metric."""
    times = [silent_since(silent, department, metric) for department in departments]
    if not times or any(t is None for t in times):
        return None
    return max(t for t in times if t is not None)


def cut_off_label(since: datetime, tz) -> tuple[str, str]:
    """(zh, en) of the mark on a greyed element: "数据源中断 自 14:05"."""
    local = since.replace(tzinfo=UTC).astimezone(tz).strftime("%H:%M")
    return f"数据源中断 自 {local}", f"feed silent since {local}"
