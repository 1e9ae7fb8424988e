"""退单审核 against the real dashboard server, broker and ClickHouse, from the attacker's side: an
officer of Jianye (320105) forging the review callback for a Xuanwu (320102) incident, an officer
acting as another district's desk, and one acting as a handling department. Nothing of theirs
reaches city.events; a proper decision does (维持 as the lead, 改派 to the chosen department)."""

from __future__ import annotations

import json
import time

import pytest

from cityops.dashboard import ids
from cityops.dashboard.auth import save_user
from tests.e2e.builders import an_incident, insert
from tests.e2e.conftest import PASSWORD, start_dashboard, stop_dashboard
from tests.integration.test_authz_dashboard import signed_in
from tests.integration.test_sdk import read_topic


def returned(incident_id: str, district: str, street: str, now: int) -> dict:
    """An incident whose lead (urban_mgmt) returned its task; the return waits for the desk."""
    state = {"returned_by": "urban_mgmt", "return_reason": "位于小区内部，属物业管理范围"}
    row = an_incident(
        incident_id=incident_id, reported_at=now - 60, district=district, street=street
    )
    return {
        **row,
        "returns": 1,
        "state": json.dumps(state, ensure_ascii=False, separators=(",", ":")),
    }


@pytest.fixture
def dashboard(isolated, artifacts_dir, request):
    home = isolated.settings.home
    save_user(home, "admin", PASSWORD, "admin", None)
    save_user(home, "jianye", PASSWORD, "officer", "320105")
    save_user(home, "mixed", PASSWORD, "officer", "320105", department="desk_320102")
    save_user(home, "handler", PASSWORD, "officer", "320105", department="urban_mgmt")
    now = int(time.time())
    insert(
        isolated.ch,
        "incidents",
        [
            returned("320105001-aa", "320105", "320105001", now),
            returned("320102001-bb", "320102", "320102001", now),
        ],
    )
    dash = start_dashboard(isolated.env, home, artifacts_dir, request.node.name)
    yield dash
    stop_dashboard(dash)


def review(session, dash, incident_id: str, button: str, to: str | None, comment: str) -> str:
    """The review callback as the browser posts it (any field can be forged): its answer."""
    payload = {
        "output": f"{ids.RETURN_RESULT}.children",
        "outputs": {"id": ids.RETURN_RESULT, "property": "children"},
        "inputs": [
            {"id": ids.RETURN_REASSIGN, "property": "n_clicks", "value": int(button == "reassign")},
            {"id": ids.RETURN_UPHOLD, "property": "n_clicks", "value": int(button == "uphold")},
        ],
        "changedPropIds": [
            f"{ids.RETURN_REASSIGN if button == 'reassign' else ids.RETURN_UPHOLD}.n_clicks"
        ],
        "state": [
            {"id": ids.RETURN_TO, "property": "value", "value": to},
            {"id": ids.ACTION_COMMENT, "property": "value", "value": comment},
            {"id": "incident-key", "property": "data", "value": incident_id},
        ],
    }
    response = session.post(f"{dash.url}/_dash-update-component", json=payload, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return response.text


def test_only_the_districts_desk_decides_a_return(dashboard, isolated):
    jianye, mixed, handler, admin = (
        signed_in(dashboard, n) for n in ("jianye", "mixed", "handler", "admin")
    )
    # the page shows the pending return with its reason (to the officer of the district)
    page = jianye.get(f"{dashboard.url}/incidents/320105001-aa", timeout=30)
    assert page.ok
    # attacks
    answer = review(jianye, dashboard, "320102001-bb", "reassign", "housing", "forged-1")
    assert "not in your area" in answer, answer[:300]
    answer = review(mixed, dashboard, "320105001-aa", "reassign", "housing", "forged-2")
    assert "desk_320102 acts only for district 320102" in answer, answer[:300]
    answer = review(handler, dashboard, "320105001-aa", "uphold", None, "forged-3")
    assert "only the district's dispatch desk decides a return" in answer, answer[:300]
    # proper decisions after the attacks, on the same partitions
    assert "sent" in review(jianye, dashboard, "320105001-aa", "uphold", None, "proper-jianye")
    assert "sent" in review(admin, dashboard, "320102001-bb", "reassign", "housing", "proper-admin")
    records = read_topic(
        isolated.settings.bootstrap,
        isolated.topics.events,
        until=lambda rs: len({json.loads(r.value)["data"]["comment"] for r in rs}) >= 2,
    )
    events = [json.loads(r.value) for r in records]
    assert sorted(e["data"]["comment"] for e in events) == ["proper-admin", "proper-jianye"]
    by = {e["data"]["comment"]: e for e in events}
    upheld, moved = by["proper-jianye"], by["proper-admin"]
    assert upheld["type"] == moved["type"] == "city.incident.reassign.v1"
    assert upheld["source"] == "/departments/desk_320105" and upheld["data"]["actor"] == "jianye"
    assert upheld["data"]["to_department"] == "urban_mgmt"  # the current lead: 维持
    assert moved["source"] == "/departments/desk_320102"
    assert moved["data"]["to_department"] == "housing"
