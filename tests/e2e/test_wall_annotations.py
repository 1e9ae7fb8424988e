"""Warning periods on the wall, from the attacker's side first: an anonymous client, a kiosk
session and another district's officer post the annotate callback themselves and store nothing;
then an admin adds a rainstorm alert from the wall and every wall shades its chart, the label
shown as written."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from cityops.dashboard import ids
from tests.e2e.builders import an_event, insert
from tests.e2e.conftest import login

SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
EPM = "#events-per-minute.js-plotly-plot, #events-per-minute .js-plotly-plot"


def _post(request_context, url: str, district: str, label: str = "festival") -> tuple[int, str]:
    states = {
        ids.ANNOTATE_KIND: "public_event",
        ids.ANNOTATE_LABEL: label,
        ids.ANNOTATE_HOURS: 2,
        ids.ANNOTATE_DISTRICT: district,
    }
    body = {
        "output": f"{ids.ANNOTATE_RESULT}.children",
        "outputs": {"id": ids.ANNOTATE_RESULT, "property": "children"},
        "inputs": [{"id": ids.ANNOTATE_ADD, "property": "n_clicks", "value": 1}],
        "state": [{"id": k, "property": "value", "value": v} for k, v in states.items()],
        "changedPropIds": [f"{ids.ANNOTATE_ADD}.n_clicks"],
    }
    response = request_context.post(
        f"{url}/_dash-update-component",
        data=json.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    return response.status, response.text()


def _stored(ch, database: str) -> list[tuple]:
    return ch.execute(f"SELECT district, label, actor FROM {database}.annotations ORDER BY label")


def test_only_signed_in_users_annotate_and_only_their_own_district(dashboard, isolated, browser):
    anon = browser.new_context()
    assert _post(anon.request, dashboard.url, "")[0] == 401
    anon.close()
    kiosk = browser.new_context()
    kiosk.new_page().goto(dashboard.wall_url())
    status, text = _post(kiosk.request, dashboard.url, "")
    assert status == 200 and "请先登录" in text
    kiosk.close()
    officer = browser.new_context()
    login(officer.new_page(), dashboard, "xuanwu")  # officer of 320102
    for other in ("320105", ""):  # another district; the whole city
        status, text = _post(officer.request, dashboard.url, other)
        assert status == 200 and "只能为本区添加标注" in text
    assert _stored(isolated.ch, isolated.database) == []
    status, text = _post(officer.request, dashboard.url, "320102", label="玄武灯会")
    assert "已添加标注" in text
    officer.close()
    assert _stored(isolated.ch, isolated.database) == [("320102", "玄武灯会", "xuanwu")]


@pytest.mark.dashboard_settings(wall_scenes="city")  # no rotation: the chart stays in view
def test_a_rainstorm_alert_shades_the_chart_on_every_wall(dashboard, isolated, browser, page):
    now = time.time()
    insert(isolated.ch, "events", [an_event(id=f"ev-{i}", time=now - 30 * i) for i in range(100)])
    # a festival earlier in the hour, added by a department (stored as the form stores it)
    isolated.ch.execute(
        f"INSERT INTO {isolated.database}.annotations VALUES",
        [("a-0", "urban_mgmt", "urban_mgmt", "public_event", "秦淮灯会", "320104",
          dt.datetime.fromtimestamp(now - 2400, dt.UTC).replace(tzinfo=None),
          dt.datetime.fromtimestamp(now - 1500, dt.UTC).replace(tzinfo=None),
          dt.datetime.fromtimestamp(now, dt.UTC).replace(tzinfo=None))],
    )  # fmt: skip
    wall_context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    wall = wall_context.new_page()
    wall.goto(dashboard.wall_url())
    login(page, dashboard, "admin", next_path="/")
    page.fill(f"#{ids.ANNOTATE_LABEL}", "<b>暴雨蓝色预警</b>")
    page.click(f"#{ids.ANNOTATE_ADD}")
    page.wait_for_function(
        f"() => document.getElementById('{ids.ANNOTATE_RESULT}').innerText.includes('已添加')"
    )
    wall.wait_for_function(
        f"() => {{ const g = document.querySelector('{EPM}');"
        " return g && g.layout && (g.layout.shapes || []).length === 2; }",
        timeout=30000,
    )
    text = wall.evaluate(
        f"() => document.querySelector('{EPM}').layout.annotations.map(a => a.text).join(' ')"
    )
    assert "&lt;b&gt;暴雨蓝色预警&lt;/b&gt;" in text
    shown = " ".join(wall.locator("#events-per-minute .annotation-text").all_text_contents())
    assert "<b>暴雨蓝色预警</b>" in shown  # the tags as written, not bold text
    assert wall.locator("#events-per-minute .annotation-text b").count() == 0
    wall.screenshot(path=str(SCREENS / "wall-1080p-annotation.png"))
    wall_context.close()
