"""Silent feeds as the wall names and uses them (pure). A feed's name is its department's code
(`iot`), or for a sensor group `<department>/<metric>`, `<department>/<prefix>*` or
`<department>/<metric>/<prefix>*` (deploy/config/rules.toml `[[feed]]`, docs/early-warning.md)."""

from __future__ import annotations

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
