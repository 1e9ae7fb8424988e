"""`/returns` (退单审核) against the real dashboard server (gunicorn) and ClickHouse, from the
attacker's side: an anonymous client gets no returns (redirected to the login page, the page
callback refused); an officer of Xuanwu (320102) does not see Jianye's (320105) returns, nor does
an officer of Jianye see Xuanwu's by forging `?district=` in the page callback; a street officer
sees their street only; the admin sees the city, or one district by `?district=`."""

from __future__ import annotations

import json
import time

import pytest
import requests

from cityops.dashboard import ids
from cityops.dashboard.auth import save_user
from tests.e2e.builders import a_transition, an_incident, insert
from tests.e2e.conftest import PASSWORD, start_dashboard, stop_dashboard
from tests.integration.test_authz_dashboard import signed_in

XUANWU_REASON = "玄武-非本部门职责-机密"
JIANYE_REASON = "位于小区内部，属物业管理范围"
SCRIPT_REASON = "<img src=x onerror=alert(1)>路灯"


def seed_returns(ch, now: int) -> None:
    """Jianye: r1 returned by urban_mgmt and upheld, r2 returned by urban_mgmt and reassigned to
    housing, r3 (street 320105002) returned by water and pending; Xuanwu: x1 returned, pending."""
    places = {
        "320105001-r1": ("320105", "320105001"),
        "320105001-r2": ("320105", "320105001"),
        "320105002-r3": ("320105", "320105002"),
        "320102001-x1": ("320102", "320102001"),
    }
    insert(
        ch,
        "incidents",
        [
            an_incident(incident_id=i, reported_at=now - 3600, district=d, street=s)
            for i, (d, s) in places.items()
        ],
    )
    moves = [
        ("320105001-r1", 3, now - 3000, "returned", "urban_mgmt", "u-ops", JIANYE_REASON),
        ("320105001-r1", 4, now - 2900, "return_upheld", "desk_320105", "jianye", "属本部门"),
        ("320105001-r2", 3, now - 2800, "returned", "urban_mgmt", "u-ops", "供水管线问题"),
        ("320105001-r2", 4, now - 2700, "reassigned", "desk_320105", "jianye",
         "urban_mgmt → housing"),
        ("320105002-r3", 3, now - 2600, "returned", "water", "w-ops", SCRIPT_REASON),
        ("320102001-x1", 3, now - 2500, "returned", "urban_mgmt", "u-ops", XUANWU_REASON),
    ]  # fmt: skip
    insert(
        ch,
        "incident_transitions",
        [
            a_transition(incident_id=i, seq=s, at=at, kind=k, department=d, actor=a, reason=r)
            for i, s, at, k, d, a, r in moves
        ],
    )


def returns_page(session: requests.Session, dash, search: str = "") -> requests.Response:
    """The router's callback for /returns as the browser posts it (any field can be forged)."""
    payload = {
        "output": f"{ids.PAGE}.children",
        "outputs": {"id": ids.PAGE, "property": "children"},
        "inputs": [{"id": ids.URL, "property": "pathname", "value": "/returns"}],
        "changedPropIds": [f"{ids.URL}.pathname"],
        "state": [
            {"id": ids.URL, "property": "search", "value": search},
            {"id": ids.LANG, "property": "data", "value": "zh"},
        ],
    }
    return session.post(f"{dash.url}/_dash-update-component", json=payload, timeout=30)


def _text(response: requests.Response) -> str:
    assert response.status_code == 200, response.text[:300]
    return json.dumps(response.json(), ensure_ascii=False)


@pytest.fixture
def dashboard(isolated, artifacts_dir, request):
    home = isolated.settings.home
    save_user(home, "admin", PASSWORD, "admin", None)
    save_user(home, "jianye", PASSWORD, "officer", "320105")
    save_user(home, "xuanwu", PASSWORD, "officer", "320102")
    save_user(home, "street", PASSWORD, "officer", "320105002")
    seed_returns(isolated.ch, int(time.time()))
    dash = start_dashboard(isolated.env, home, artifacts_dir, request.node.name)
    yield dash
    stop_dashboard(dash)


def test_returns_need_a_login_and_stay_in_the_officers_unit(dashboard):
    anonymous = requests.Session()
    shell = anonymous.get(f"{dashboard.url}/returns", timeout=10, allow_redirects=False)
    assert shell.status_code == 302 and "/login" in shell.headers["Location"]
    refused = returns_page(anonymous, dashboard, "?district=320105")
    assert refused.status_code == 401
    assert JIANYE_REASON not in refused.text and XUANWU_REASON not in refused.text

    # another district's officer: none of Jianye's returns, also when asking for Jianye
    xuanwu = signed_in(dashboard, "xuanwu")
    for search in ("", "?district=320105", "?district=320105&days=366"):
        text = _text(returns_page(xuanwu, dashboard, search))
        assert XUANWU_REASON in text, search
        assert JIANYE_REASON not in text and "320105001-r1" not in text, search
        assert '"data-department": "water"' not in text, search

    jianye = signed_in(dashboard, "jianye")
    text = _text(returns_page(jianye, dashboard, "?district=320102"))
    assert XUANWU_REASON not in text and "320102001-x1" not in text
    assert JIANYE_REASON in text and "320105002-r3" in text
    assert "维持" in text and "改派" in text and "待审核" in text

    street = _text(returns_page(signed_in(dashboard, "street"), dashboard, "?district=320105"))
    assert "320105002-r3" in street
    assert "320105001-r1" not in street and "320102001-x1" not in street

    admin = signed_in(dashboard, "admin")
    text = _text(returns_page(admin, dashboard))
    assert all(i in text for i in ("320105001-r1", "320105002-r3", "320102001-x1"))
    text = _text(returns_page(admin, dashboard, "?district=320102"))
    assert "320102001-x1" in text and "320105001-r1" not in text
