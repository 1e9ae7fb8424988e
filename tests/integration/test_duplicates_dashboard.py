"""可能重复 and 并单 on the incident page against the real dashboard server, broker and ClickHouse,
from the attacker's side: an anonymous client gets no incident page; an officer of Jianye
(320105) sees the Jianye duplicate of a Jianye incident but never the Xuanwu (320102) incident
10 m away (the scope is in the query); an officer of Xuanwu gets no Jianye page at all; the admin
sees both nearby incidents, never one of another category. The merge callback, forged by an
anonymous client, by Xuanwu's officer, by Jianye's officer for a Xuanwu target, by the admin
across districts and by an officer acting as a handling department, publishes nothing; Jianye's
desk officer's merge reaches city.events as desk_320105."""

from __future__ import annotations

import json
import time

import pytest
import requests

from cityops.dashboard import ids
from cityops.dashboard.auth import save_user
from tests.e2e.builders import an_incident, insert
from tests.e2e.conftest import PASSWORD, start_dashboard, stop_dashboard
from tests.integration.test_authz_dashboard import signed_in
from tests.integration.test_sdk import read_topic

M_LAT = 1 / 111_195  # degrees of latitude per metre


def seed_duplicates(ch, now: int) -> None:
    """j1 (Jianye), j2 (Jianye, 20 m north, an hour later), j3 (Jianye, 20 m, another
    category), x1 (Xuanwu, 10 m south), all open."""

    def near(incident_id, district, street, north_m, hours=0.0, category="road_damage"):
        return an_incident(incident_id=incident_id, reported_at=now - 7200 + int(hours * 3600),
                           district=district, street=street, category=category,
                           lat=32.0 + north_m * M_LAT, lon=118.7,
                           title=f"路面破损 {incident_id}")  # fmt: skip

    insert(
        ch,
        "incidents",
        [
            near("320105001-j1", "320105", "320105001", 0),
            near("320105001-j2", "320105", "320105001", 20, hours=1),
            near("320105001-j3", "320105", "320105001", 20, category="garbage"),
            near("320102001-x1", "320102", "320102001", -10),
        ],
    )


def incident_page(session: requests.Session, dash, incident_id: str) -> requests.Response:
    payload = {
        "output": f"{ids.PAGE}.children",
        "outputs": {"id": ids.PAGE, "property": "children"},
        "inputs": [{"id": ids.URL, "property": "pathname", "value": f"/incidents/{incident_id}"}],
        "changedPropIds": [f"{ids.URL}.pathname"],
        "state": [
            {"id": ids.URL, "property": "search", "value": ""},
            {"id": ids.LANG, "property": "data", "value": "zh"},
        ],
    }
    return session.post(f"{dash.url}/_dash-update-component", json=payload, timeout=30)


def _duplicates(response: requests.Response) -> set[str]:
    """The incident ids the page's 可能重复 section lists."""
    assert response.status_code == 200, response.text[:300]
    found: set[str] = set()

    def walk(node, inside: bool) -> None:
        if isinstance(node, dict):
            inside = inside or node.get("id") == "incident-duplicates"
            if inside and "data-incident" in node:
                found.add(node["data-incident"])
            for value in node.values():
                walk(value, inside)
        elif isinstance(node, list):
            for value in node:
                walk(value, inside)

    walk(response.json(), False)
    return found


@pytest.fixture
def dashboard(isolated, artifacts_dir, request):
    home = isolated.settings.home
    save_user(home, "admin", PASSWORD, "admin", None)
    save_user(home, "jianye", PASSWORD, "officer", "320105")
    save_user(home, "xuanwu", PASSWORD, "officer", "320102")
    save_user(home, "handler", PASSWORD, "officer", "320105", department="urban_mgmt")
    seed_duplicates(isolated.ch, int(time.time()))
    dash = start_dashboard(isolated.env, home, artifacts_dir, request.node.name)
    yield dash
    stop_dashboard(dash)


def test_duplicates_stay_in_the_officers_district(dashboard):
    anonymous = requests.Session()
    shell = anonymous.get(f"{dashboard.url}/incidents/320105001-j1", timeout=10,
                          allow_redirects=False)  # fmt: skip
    assert shell.status_code == 302 and "/login" in shell.headers["Location"]
    refused = incident_page(anonymous, dashboard, "320105001-j1")
    assert refused.status_code == 401 and "320105001-j2" not in refused.text

    jianye = signed_in(dashboard, "jianye")
    assert _duplicates(incident_page(jianye, dashboard, "320105001-j1")) == {"320105001-j2"}
    assert _duplicates(incident_page(jianye, dashboard, "320105001-j2")) == {"320105001-j1"}

    xuanwu = signed_in(dashboard, "xuanwu")
    text = json.dumps(incident_page(xuanwu, dashboard, "320105001-j1").json(), ensure_ascii=False)
    assert "320105001-j2" not in text  # not their incident: no page, no suggestions
    assert _duplicates(incident_page(xuanwu, dashboard, "320102001-x1")) == set()

    admin = signed_in(dashboard, "admin")
    assert _duplicates(incident_page(admin, dashboard, "320105001-j1")) == {
        "320105001-j2", "320102001-x1"
    }  # fmt: skip


def merge(session, dash, incident_id: str, into: str, comment: str) -> requests.Response:
    """The merge callback as the browser posts it (any field can be forged)."""
    button = {"type": "merge-into", "into": into}
    payload = {
        "output": "merge-result.children",
        "outputs": {"id": "merge-result", "property": "children"},
        "inputs": [[{"id": button, "property": "n_clicks", "value": 1}]],
        "changedPropIds": [json.dumps(button, separators=(",", ":"), sort_keys=True) + ".n_clicks"],
        "state": [
            {"id": ids.ACTION_COMMENT, "property": "value", "value": comment},
            {"id": "incident-key", "property": "data", "value": incident_id},
        ],
    }
    return session.post(f"{dash.url}/_dash-update-component", json=payload, timeout=30)


def test_only_the_districts_desk_merges_within_its_scope(dashboard, isolated):
    assert (
        merge(requests.Session(), dashboard, "320105001-j1", "320105001-j2", "anon").status_code
        == 401
    )
    attacks = [
        ("xuanwu", "320105001-j1", "320105001-j2", "not in your area"),
        ("jianye", "320105001-j1", "320102001-x1", "not in your area"),
        ("admin", "320105001-j1", "320102001-x1", "desk_320105 acts only for district 320105"),
        ("handler", "320105001-j1", "320105001-j2", "only the district's dispatch desk merges"),
        ("jianye", "320105001-j1", "320105001-j1", "cannot merge an incident into itself"),
    ]
    for name, incident_id, into, expected in attacks:
        answer = merge(signed_in(dashboard, name), dashboard, incident_id, into, f"forged-{name}")
        assert answer.status_code == 200 and expected in answer.text, (name, answer.text[:300])
    proper = merge(signed_in(dashboard, "jianye"), dashboard, "320105001-j1", "320105001-j2", "ok")
    assert "sent" in proper.text, proper.text[:300]
    records = read_topic(
        isolated.settings.bootstrap,
        isolated.topics.events,
        until=lambda rs: any(json.loads(r.value)["data"]["comment"] == "ok" for r in rs),
    )
    events = [json.loads(r.value) for r in records]
    assert [e["data"]["comment"] for e in events] == ["ok"]  # no attack got through
    (event,) = events
    assert event["type"] == "city.incident.merge.v1"
    assert event["source"] == "/departments/desk_320105" and event["data"]["actor"] == "jianye"
    assert (event["data"]["incident_id"], event["data"]["into"]) == ("320105001-j1", "320105001-j2")
