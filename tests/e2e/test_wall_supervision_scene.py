"""The wall's supervision scene in a kiosk session: the default rotation includes it, and it shows
the city's supervised matters counted per level and district, overdue first, with no title,
address or incident id. From the attacker's side: the same kiosk session still cannot open
/supervision (with or without its token in the link) and a forged action callback on a supervised
matter is refused and publishes nothing."""

from __future__ import annotations

import time

import pytest

from cityops.dashboard import ids, scenes
from tests.e2e.builders import an_incident, insert
from tests.e2e.test_drilldown import records_on

SECRET_TITLE = "张三家门口 13800001234 油烟扰民"


def supervised(ch, now: int) -> None:
    def row(iid: str, district: str, due: int, level: str, status: str = "reopened") -> dict:
        base = an_incident(
            incident_id=iid, reported_at=now - 7200, district=district,
            street=f"{district}001", title=SECRET_TITLE, resolve_due=due,
        )  # fmt: skip
        return {**base, "status": status, "community": f"{district}001001",
                "unsolved": 1, "callback": "unsolved", "returns": 0, "reopened": 1,
                "supervision": level}  # fmt: skip

    insert(
        ch,
        "incidents",
        [
            row("320105001-k1", "320105", now + 86400, "street"),
            row("320105001-k2", "320105", now - 60, "street"),  # overdue
            row("320102001-k3", "320102", now - 600, "street"),  # overdue
            row("320102001-k4", "320102", now - 600, "street"),  # overdue
            row("320104001-k5", "320104", now + 3600, "community"),
        ],
    )


@pytest.mark.dashboard_settings(wall_dwell_seconds=5)  # the default scenes, turning fast
def test_the_kiosk_wall_rotates_to_the_supervision_summary(dashboard, isolated, browser):
    assert "supervision" in scenes.DEFAULT_SCENES
    supervised(isolated.ch, int(time.time()))
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    wall = context.new_page()
    wall.goto(dashboard.wall_url())
    box = f"#{ids.scene_box('supervision')}"
    # the default rotation (no CITYOPS_WALL_SCENES): wait until the scene comes up and fills
    wall.wait_for_selector(f"{box}.active #{ids.SCENE_SUPERVISION_SUMMARY} .sv-row.overdue",
                           timeout=60000)  # fmt: skip
    rows = wall.locator(f"#{ids.SCENE_SUPERVISION_SUMMARY} .sv-level[data-level=street] .sv-row")
    texts = rows.all_inner_texts()
    assert len(texts) == 3  # the header, then 玄武区 (2 overdue) before 建邺区 (1 overdue)
    first, second = texts[1].split(), texts[2].split()
    assert first[0] == "玄武区" and first[1:] == ["2", "2", "0"]
    assert second[0] == "建邺区" and second[1:] == ["1", "2", "0"]
    community = wall.locator(f"#{ids.SCENE_SUPERVISION_SUMMARY} .sv-level[data-level=community]")
    assert "秦淮区" in community.inner_text()
    html = wall.content()
    for secret in ("张三", "13800001234", "320105001-k1", "320102001-k3"):
        assert secret not in html
    assert wall.locator("iframe").count() == 0  # no frame of /supervision
    context.close()


def test_the_kiosk_session_still_cannot_open_supervision_or_act(
    dashboard, isolated, services, browser
):
    supervised(isolated.ch, int(time.time()))
    context = browser.new_context()
    kiosk = context.new_page()
    kiosk.goto(dashboard.wall_url())
    kiosk.wait_for_selector(f"#{ids.scene_box('supervision')}", state="attached")
    for path in ("/supervision", f"/supervision?kiosk={dashboard.kiosk_token}"):
        kiosk.goto(f"{dashboard.url}{path}")
        kiosk.wait_for_selector("#login-username")
        assert "/login" in kiosk.url
        assert SECRET_TITLE not in kiosk.content()
    payload = {
        "output": f"{ids.ACTION_RESULT}.children",
        "outputs": {"id": ids.ACTION_RESULT, "property": "children"},
        "inputs": [[{"id": {"action": "escalate", "type": "incident-action"},
                     "property": "n_clicks", "value": 1}]],
        "changedPropIds": ['{"action":"escalate","type":"incident-action"}.n_clicks'],
        "state": [
            {"id": ids.ACTION_COMMENT, "property": "value", "value": "x"},
            {"id": "incident-key", "property": "data", "value": "320105001-k2"},
        ],
    }  # fmt: skip
    response = kiosk.request.post(f"{dashboard.url}/_dash-update-component", data=payload)
    assert "登录" in response.text() or response.status in (401, 403)
    assert records_on(services.bootstrap, isolated.topics.events) == 0
    context.close()
