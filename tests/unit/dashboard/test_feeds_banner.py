"""The wall's silent-feed banner: each silent department by name with the local time it went
quiet (Beijing time), in both languages."""

from __future__ import annotations

from datetime import datetime

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
