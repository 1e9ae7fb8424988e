"""The wall's silent-feed banner: each silent department by name with the local time it went
quiet (Beijing time), in both languages."""

from __future__ import annotations

from datetime import datetime

import pytest

from cityops.dashboard.feeds import split_feed
from cityops.dashboard.pages.wall import feeds_banner


def texts(component) -> list[str]:
    if isinstance(component, str):
        return [component]
    children = getattr(component, "children", None)
    if children is None:
        return []
    if not isinstance(children, list):
        children = [children]
    return [t for child in children for t in texts(child)]


def test_a_silent_feed_shows_its_department_and_since_when_in_local_time():
    silent = [("iot", datetime(2026, 12, 6, 6, 5)), ("video", datetime(2026, 12, 6, 7, 30))]
    (banner,) = feeds_banner(silent)
    zh, en = texts(banner)
    assert zh == "数据源中断：城市物联感知平台 自 14:05，视频智能分析平台 自 15:30"
    assert en == "Feed silent: IoT Sensor Platform since 14:05; Video AI Platform since 15:30"


def test_a_silent_sensor_group_is_named_with_its_department_and_group():
    (banner,) = feeds_banner([("iot/water_level", datetime(2026, 12, 6, 6, 5))])
    zh, en = texts(banner)
    assert zh == "数据源中断：城市物联感知平台·water_level 自 14:05"
    assert en == "Feed silent: IoT Sensor Platform · water_level since 14:05"


SPLITS = {
    "iot": ("iot", "", ""),
    "iot/water_level": ("iot", "water_level", ""),
    "iot/WL-JY-*": ("iot", "", "WL-JY-"),
    "iot/water_level/WL-JY-*": ("iot", "water_level", "WL-JY-"),
}


@pytest.mark.parametrize(("name", "parts"), SPLITS.items(), ids=SPLITS.keys())
def test_a_feed_name_splits_into_department_metric_and_prefix(name, parts):
    assert tuple(split_feed(name)) == parts
