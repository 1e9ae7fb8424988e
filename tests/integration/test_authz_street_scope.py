"""Street scope and the secretaries' boards against the real dashboard server (gunicorn), a real
broker and ClickHouse, from the attacker's side: an officer of one street reading or acting on
an incident of another street of the same district; a community secretary opening another
community's board, forging an action, or reading the incident list; an anonymous client. Their
own street's and community's matters stay reachable."""

from __future__ import annotations

import json
import time

import pytest
import requests

from cityops.dashboard import ids
from cityops.dashboard.auth import save_user
from tests.e2e.builders import an_incident, insert
from tests.e2e.conftest import PASSWORD, start_dashboard, stop_dashboard
from tests.integration.test_authz_dashboard import act, signed_in

OWN, OTHER = "320105001", "320105002"  # two streets of Jianye (320105)


def supervised(iid: str, street: str, community: str, title: str, now: int) -> dict:
    row = an_incident(
        incident_id=iid, reported_at=now - 600, district="320105", street=street, title=title
    )
    row.update(
        status="reopened", community=community, supervision="community", reopened=1,
        unsolved=1, callback="unsolved", returns=0,
    )  # fmt: skip
    return row


@pytest.fixture
def dashboard(isolated, artifacts_dir, request):
    home = isolated.settings.home
    save_user(home, "street1", PASSWORD, "officer", "320105", street=OWN)
    save_user(home, "sec_a", PASSWORD, "secretary", None, unit=OWN + "001")
    save_user(home, "sec_b", PASSWORD, "secretary", None, unit=OWN + "002")
    now = int(time.time())
    insert(
        isolated.ch,
        "incidents",
        [
            supervised(f"{OWN}-aa", OWN, OWN + "001", "甲社区路灯不亮", now),
            supervised(f"{OWN}-dd", OWN, OWN + "002", "乙社区噪声扰民", now),
            supervised(f"{OTHER}-cc", OTHER, OTHER + "001", "丙街道井盖缺失", now),
        ],
    )
    dash = start_dashboard(isolated.env, home, artifacts_dir, request.node.name)
    yield dash
    stop_dashboard(dash)


def page(session: requests.Session, dash, pathname: str, search: str = "") -> str:
    """The router callback as the browser posts it: the rendered page of `pathname`."""
    payload = {
        "output": f"{ids.PAGE}.children",
        "outputs": {"id": ids.PAGE, "property": "children"},
        "inputs": [{"id": ids.URL, "property": "pathname", "value": pathname}],
        "changedPropIds": [f"{ids.URL}.pathname"],
        "state": [
            {"id": ids.URL, "property": "search", "value": search},
            {"id": ids.LANG, "property": "data", "value": "zh"},
        ],
    }
    response = session.post(f"{dash.url}/_dash-update-component", json=payload, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return json.dumps(response.json(), ensure_ascii=False)


def test_a_street_officer_reads_and_acts_on_their_street_only(dashboard):
    officer = signed_in(dashboard, "street1")
    other = page(officer, dashboard, f"/incidents/{OTHER}-cc")
    assert "丙街道井盖缺失" not in other and "不在您的辖区" in other
    assert "甲社区路灯不亮" in page(officer, dashboard, f"/incidents/{OWN}-aa")
    assert "not in your area" in act(officer, dashboard, f"{OTHER}-cc", "escalate", "forged")
    assert "sent" in act(officer, dashboard, f"{OWN}-aa", "urge", "proper")
    board = page(officer, dashboard, "/supervision")
    assert "甲社区路灯不亮" in board and "乙社区噪声扰民" in board
    assert "丙街道井盖缺失" not in board
    district = page(officer, dashboard, "/district/320105")
    assert "denied" not in district and "小事不出网格" in district
    assert f"street={OWN}" in district and f"street={OTHER}" not in district


def search(session: requests.Session, dash, district: str | None, street: str | None) -> str:
    """The incident list callback with forged filters (all fields of it can be forged)."""
    values = {
        ids.FILTER_DISTRICT: district, ids.FILTER_STREET: street, ids.FILTER_CATEGORY: None,
        ids.FILTER_STATUS: [], ids.FILTER_SEVERITY: None, ids.FILTER_RANGE: "7d",
        ids.FILTER_TEXT: "", ids.SORT_BY: "reported_at", ids.SORT_DESC: True,
    }  # fmt: skip
    inputs = [{"id": k, "property": "value", "value": v} for k, v in values.items()]
    pages = (ids.PAGE_PREV, ids.PAGE_NEXT)
    inputs += [{"id": i, "property": "n_clicks", "value": 0} for i in pages]
    outputs = (ids.INCIDENT_TABLE, "children"), (ids.INCIDENT_COUNT, "children"), (
        ids.PAGE_INFO, "children"), (ids.PAGE_STATE, "data")  # fmt: skip
    payload = {
        "output": ".." + "...".join(f"{i}.{p}" for i, p in outputs) + "..",
        "outputs": [{"id": i, "property": p} for i, p in outputs],
        "inputs": inputs,
        "changedPropIds": [f"{ids.FILTER_TEXT}.value"],
        "state": [{"id": ids.PAGE_STATE, "property": "data", "value": 0}],
    }
    response = session.post(f"{dash.url}/_dash-update-component", json=payload, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return json.dumps(response.json(), ensure_ascii=False)


@pytest.mark.parametrize(
    "district, street", [(None, None), ("320105", None), ("320105", OTHER), (None, OTHER)]
)
def test_a_street_officers_search_never_lists_another_street(dashboard, district, street):
    found = search(signed_in(dashboard, "street1"), dashboard, district, street)
    assert "丙街道井盖缺失" not in found
    if street is None:
        assert "甲社区路灯不亮" in found and "乙社区噪声扰民" in found


def test_a_community_secretary_sees_their_own_board_only(dashboard):
    sec_a = signed_in(dashboard, "sec_a")
    board = page(sec_a, dashboard, "/supervision")
    assert "甲社区路灯不亮" in board
    assert "乙社区噪声扰民" not in board and "丙街道井盖缺失" not in board
    # any other page is the same board; a forged action is refused
    listing = page(sec_a, dashboard, "/incidents")
    assert "乙社区噪声扰民" not in listing and "丙街道井盖缺失" not in listing
    assert "sign in to act" in act(sec_a, dashboard, f"{OWN}-aa", "urge", "forged-by-secretary")
    sec_b = signed_in(dashboard, "sec_b")
    assert "甲社区路灯不亮" not in page(sec_b, dashboard, "/supervision")


def test_anonymous_gets_the_login(dashboard):
    response = requests.get(f"{dashboard.url}/supervision", timeout=10, allow_redirects=False)
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]
    forged = requests.post(f"{dashboard.url}/_dash-update-component", json={}, timeout=10)
    assert forged.status_code == 401
