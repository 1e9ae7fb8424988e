"""Warning periods on the wall, from the attacker's side first: an anonymous client, a kiosk
session and another district's officer post the annotate callback themselves and store nothing;
then an admin adds a rainstorm alert from the wall and every wall shades its chart, the label
shown as written."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
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


@pytest.mark.dashboard_settings(wall_scenes="city")
def test_a_period_a_department_publishes_through_the_gateway_shades_the_wall(
    dashboard, isolated, browser, tmp_path
):
    """The emergency bureau's key publishes a rainstorm alert through the gateway: the worker
    stores it and a kiosk wall shades its chart with it, no dashboard form involved."""
    from cityops.deploy import services as svc
    from tests.integration.test_annotations_bus import annotation
    from tests.integration.test_gateway import start_gateway, stop_gateway
    from tests.waiting import wait_until

    now = time.time()
    insert(isolated.ch, "events", [an_event(id=f"ev-{i}", time=now - 30 * i) for i in range(60)])
    # a home of their own: the bus services' secrets must not replace the wall's kiosk token
    home = tmp_path / "bus-home"
    home.mkdir()
    settings = isolated.settings.model_copy(update={"home": home})
    worker = svc.start_worker(settings, tmp_path / "worker.log")
    env = {**isolated.env, "CITYOPS_HOME": str(home)}
    gateway = start_gateway(env, home, tmp_path / "gateway.log")
    try:
        wall_context = browser.new_context(viewport={"width": 1920, "height": 1080})
        wall = wall_context.new_page()
        wall.goto(dashboard.wall_url())
        alert = annotation("emergency", label="暴雨橙色预警")
        answer = gateway.post(gateway.key("emergency"), alert)
        assert answer.status_code == 202, answer.text
        wait_until(
            lambda: isolated.ch.execute(
                f"SELECT department FROM {isolated.database}.annotations WHERE id = %(id)s",
                {"id": f"emergency/{alert['id']}"},
            ),
            90,
            "the published alert in ClickHouse",
            interval=0.3,
            details=lambda: svc.log_tail(tmp_path / "worker.log", 20),
        )
        wall.wait_for_function(
            f"() => {{ const g = document.querySelector('{EPM}');"
            " return g && g.layout && (g.layout.shapes || []).length === 1; }",
            timeout=60000,
        )
        shown = " ".join(wall.locator("#events-per-minute .annotation-text").all_text_contents())
        assert "暴雨橙色预警" in shown
        wall_context.close()
    finally:
        stop_gateway(gateway)
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)
