"""The wall greys out what depends on a silent feed: the IoT platform's water-level gauges (a
sensor group) went quiet, its gas sensors still report. On the kiosk wall's sensor board the
water-level rule, the water-level sensor over its threshold and the map of readings are greyed
with "数据源中断 自 HH:MM"; the gas rule and the gas sensor are not."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from cityops.dashboard import ids
from cityops.dashboard.backend import TZ


def utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC).replace(tzinfo=None)


@pytest.mark.dashboard_settings(wall_scenes="sensors")
def test_the_sensor_board_greys_what_a_silent_sensor_group_fed(dashboard, isolated, browser):
    now = time.time()
    since = now - 900
    db = isolated.database
    isolated.ch.execute(
        f"INSERT INTO {db}.readings VALUES",
        [
            ("WL-JY-0012", utc(since - 60), "water_level", "iot", 0.52, "m", "320105",
             "320105001", "", utc(since - 60)),
            ("GAS-GL-0003", utc(now - 30), "ch4_lel", "iot", 31.0, "%LEL", "320106",
             "320106001", "", utc(now - 30)),
        ],
    )  # fmt: skip
    isolated.ch.execute(
        f"INSERT INTO {db}.feed_states VALUES",
        [("iot/water_level", 1, utc(since), utc(since), int(now * 1000), utc(now))],
    )
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    wall = context.new_page()
    wall.goto(dashboard.wall_url())
    box = f"#{ids.scene_box('sensors')}"
    wall.wait_for_selector(f"{box} #{ids.SCENE_RULES} .feed-cut", timeout=30000)
    local = dt.datetime.fromtimestamp(int(since), TZ).strftime("%H:%M")
    rules = wall.locator(f"#{ids.SCENE_RULES} .al-row")
    cut = [t for t in rules.all_inner_texts() if "数据源中断" in t]
    assert len(cut) == 1 and f"数据源中断 自 {local}" in cut[0] and "积水" in cut[0]
    assert wall.locator(f"#{ids.SCENE_RULES} .al-row:not(.feed-cut)").count() >= 1
    sensors = wall.locator(f"#{ids.SCENE_SENSORS_OVER} .tk-row")
    assert sensors.count() == 2
    greyed = wall.locator(f"#{ids.SCENE_SENSORS_OVER} .tk-row.feed-cut")
    assert greyed.all_inner_texts() and "WL-JY-0012" in greyed.inner_text()
    assert f"数据源中断 自 {local}" in greyed.inner_text()
    live = wall.locator(f"#{ids.SCENE_SENSORS_OVER} .tk-row:not(.feed-cut)")
    assert "GAS-GL-0003" in live.inner_text() and "数据源中断" not in live.inner_text()
    # the map of readings: greyed, its heading naming the silent metric
    panel = wall.locator(f"section.feed-cut:has(#{ids.SCENE_SENSOR_MAP})")
    assert panel.count() == 1
    assert "water_level" in panel.locator("h2 .cut-mark").inner_text()
    # the mark stays legible, the rest is greyed
    assert wall.evaluate(
        f"() => getComputedStyle(document.querySelector("
        f"'#{ids.SCENE_SENSORS_OVER} .tk-row.feed-cut .tk-kind')).filter"
    ).startswith("grayscale")
    assert (
        wall.evaluate(
            f"() => getComputedStyle(document.querySelector("
            f"'#{ids.SCENE_SENSORS_OVER} .tk-row.feed-cut .cut-mark')).filter"
        )
        == "none"
    )
    context.close()
