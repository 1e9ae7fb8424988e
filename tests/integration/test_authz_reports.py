"""/reports and /reports.csv against the real dashboard server (`cityops dashboard`, gunicorn) and
ClickHouse, from the attacker's side: an anonymous client gets the login redirect (and 401 on the
page's callback); Jianye's officer (320105) asking for Xuanwu's (320102) streets — by query
parameters on the CSV, by the router's search, by forging the page's callback — reads only
Jianye's rows; the city's admin reads every district."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
import requests

from cityops.dashboard import ids
from cityops.dashboard.auth import save_user
from cityops.schemas.registry import load_registry
from cityops.storage import report_rows as rr
from tests.e2e.builders import an_incident, insert
from tests.e2e.conftest import PASSWORD, start_dashboard, stop_dashboard
from tests.integration.test_authz_dashboard import signed_in

TODAY = rr.today_beijing().isoformat()
XUANWU_STREET = "320102001"


@pytest.fixture
def dashboard(isolated, artifacts_dir, request):
    home = isolated.settings.home
    save_user(home, "admin", PASSWORD, "admin", None)
    save_user(home, "jianye", PASSWORD, "officer", "320105")
    start = int(rr.period("daily", rr.parse_date(TODAY)).start.timestamp())
    now = max(start + 1, int(time.time()) - 60)
    insert(
        isolated.ch,
        "incidents",
        [
            an_incident(incident_id="320105001-aa", reported_at=now, district="320105"),
            an_incident(
                incident_id="320102001-bb",
                reported_at=now,
                district="320102",
                street=XUANWU_STREET,
                status="closed",
            ),  # fmt: skip
        ],
    )
    dash = start_dashboard(isolated.env, home, artifacts_dir, request.node.name)
    yield dash
    stop_dashboard(dash)


def _csv(session, dash, query: str) -> dict[str, dict]:
    response = session.get(f"{dash.url}/reports.csv?{query}", timeout=30, allow_redirects=False)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"].startswith("text/csv")
    return {r["unit_code"]: r for r in csv.DictReader(io.StringIO(response.text))}


def _callback(session, dash, day: str, period: str, by: str) -> requests.Response:
    """The page's callback as the browser posts it (every value can be forged)."""
    inputs = [
        {"id": ids.REPORT_DATE, "property": "date", "value": day},
        {"id": ids.REPORT_PERIOD, "property": "value", "value": period},
        {"id": ids.REPORT_BY, "property": "value", "value": by},
    ]
    payload = {
        "output": f"..{ids.REPORT_BODY}.children...{ids.REPORT_CSV}.href..",
        "outputs": [
            {"id": ids.REPORT_BODY, "property": "children"},
            {"id": ids.REPORT_CSV, "property": "href"},
        ],
        "inputs": inputs,
        "changedPropIds": [f"{ids.REPORT_BY}.value"],
        "state": [],
    }
    return session.post(f"{dash.url}/_dash-update-component", json=payload, timeout=30)


def _route(session, dash, search: str) -> str:
    """The router's answer for /reports with a search (the page as the browser gets it)."""
    payload = {
        "output": f"{ids.PAGE}.children",
        "outputs": {"id": ids.PAGE, "property": "children"},
        "inputs": [{"id": ids.URL, "property": "pathname", "value": "/reports"}],
        "changedPropIds": [f"{ids.URL}.pathname"],
        "state": [
            {"id": ids.URL, "property": "search", "value": search},
            {"id": ids.LANG, "property": "data", "value": "zh"},
        ],
    }
    response = session.post(f"{dash.url}/_dash-update-component", json=payload, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return response.text


def test_anonymous_clients_get_the_login_page(dashboard):
    for path in ("/reports", f"/reports.csv?date={TODAY}&by=street"):
        response = requests.get(f"{dashboard.url}{path}", timeout=10, allow_redirects=False)
        assert response.status_code == 302 and "/login?next=" in response.headers["Location"]
    forged = _callback(requests.Session(), dashboard, TODAY, "daily", "street")
    assert forged.status_code == 401 and XUANWU_STREET not in forged.text


def test_an_officer_reads_only_their_district_whatever_the_query(dashboard):
    officer = signed_in(dashboard, "jianye")
    for query in (f"date={TODAY}&by=street", f"date={TODAY}&by=street&district=320102",
                  f"date={TODAY}&by=street&scope=320102&street={XUANWU_STREET}"):  # fmt: skip
        rows = _csv(officer, dashboard, query)
        assert rows and all(code.startswith("320105") for code in rows), query
        assert XUANWU_STREET not in rows
    districts = _csv(officer, dashboard, f"date={TODAY}&by=district&district=320102")
    assert list(districts) == ["320105"] and districts["320105"]["incidents"] == "1"
    page = _route(officer, dashboard, f"?date={TODAY}&by=street&district=320102")
    assert "320105001" in page and XUANWU_STREET not in page and "玄武" not in page
    forged = _callback(officer, dashboard, TODAY, "weekly", "street")
    assert forged.status_code == 200 and "320105001" in forged.text
    assert XUANWU_STREET not in forged.text and "320102" not in forged.text


def test_the_admin_reads_every_district_and_bad_values_are_refused(dashboard):
    admin = signed_in(dashboard, "admin")
    rows = _csv(admin, dashboard, f"date={TODAY}&period=daily&by=district")
    assert set(rows) == {u.code for u in load_registry().districts()}
    assert rows["320102"]["closure_rate"] == "1.0000" and rows["320105"]["incidents"] == "1"
    bad = admin.get(f"{dashboard.url}/reports.csv?date=2026-02-30", timeout=10)
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    page = _route(admin, dashboard, f"?date={TODAY}")
    assert ids.REPORT_TABLE in page and ids.REPORT_FUNNEL in page and "玄武区" in page
    assert json.loads(page)  # the router answers JSON, not an error page
