"""Officers' actions against the real dashboard server (`cityops dashboard`, gunicorn), a real
broker and ClickHouse, from the attacker's side: an officer of Jianye (320105) forging the action
callback for a Xuanwu (320102) incident, and an officer whose acting department is another
district's desk. Nothing of theirs reaches city.events; a proper action does, under the officer's
user name."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests

from cityops.dashboard import ids
from cityops.dashboard.auth import save_user
from tests.e2e.builders import an_incident, insert
from tests.e2e.conftest import PASSWORD, start_dashboard, stop_dashboard
from tests.integration.test_sdk import read_topic


@pytest.fixture
def dashboard(isolated, artifacts_dir, request):
    """Officers of Jianye and Xuanwu, one Jianye officer set up to act as Xuanwu's desk, an
    admin; an incident in each district; the dashboard of this test's database."""
    home = isolated.settings.home
    save_user(home, "admin", PASSWORD, "admin", None)
    save_user(home, "jianye", PASSWORD, "officer", "320105")
    save_user(home, "mixed", PASSWORD, "officer", "320105", department="desk_320102")
    now = int(time.time())
    insert(
        isolated.ch,
        "incidents",
        [
            an_incident(incident_id="320105001-aa", reported_at=now - 60, district="320105"),
            an_incident(
                incident_id="320102001-bb",
                reported_at=now - 60,
                district="320102",
                street="320102001",
            ),
        ],
    )
    dash = start_dashboard(isolated.env, home, artifacts_dir, request.node.name)
    yield dash
    stop_dashboard(dash)


def signed_in(dash, name: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{dash.url}/login", timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
    done = session.post(
        f"{dash.url}/login",
        data={"username": name, "password": PASSWORD, "csrf": csrf, "next": "/incidents"},
        timeout=10,
    )
    assert done.ok and "/login" not in done.url, done.text[:300]
    return session


def act(session: requests.Session, dash, incident_id: str, action: str, comment: str) -> str:
    """The action callback as the browser posts it (any field can be forged): its answer."""
    trigger = {"action": action, "type": "incident-action"}
    payload = {
        "output": f"{ids.ACTION_RESULT}.children",
        "outputs": {"id": ids.ACTION_RESULT, "property": "children"},
        "inputs": [[{"id": trigger, "property": "n_clicks", "value": 1}]],
        "changedPropIds": [json.dumps(trigger, separators=(",", ":")) + ".n_clicks"],
        "state": [
            {"id": ids.ACTION_COMMENT, "property": "value", "value": comment},
            {"id": "incident-key", "property": "data", "value": incident_id},
        ],
    }
    response = session.post(f"{dash.url}/_dash-update-component", json=payload, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return response.text


def test_officers_act_only_in_their_district_as_a_proper_department(dashboard, isolated):
    jianye, mixed, admin = (signed_in(dashboard, n) for n in ("jianye", "mixed", "admin"))
    # attacks: another district's incident; another district's desk as the acting department
    assert "not in your area" in act(jianye, dashboard, "320102001-bb", "escalate", "forged-1")
    answer = act(mixed, dashboard, "320105001-aa", "escalate", "forged-2")
    assert "desk_320102 acts only for district 320102" in answer, answer[:300]
    # proper actions, after the attacks and on the same partitions (same street keys)
    assert "sent" in act(jianye, dashboard, "320105001-aa", "urge", "proper-jianye")
    assert "sent" in act(admin, dashboard, "320102001-bb", "note", "proper-admin")
    records = read_topic(
        isolated.settings.bootstrap,
        isolated.topics.events,
        until=lambda rs: len({json.loads(r.value)["data"]["comment"] for r in rs}) >= 2,
    )
    events = [json.loads(r.value) for r in records]
    assert sorted(e["data"]["comment"] for e in events) == ["proper-admin", "proper-jianye"]
    (urge,) = [e for e in events if e["data"]["comment"] == "proper-jianye"]
    assert urge["source"] == "/departments/desk_320105"
    assert urge["data"]["department"] == "desk_320105" and urge["data"]["actor"] == "jianye"
