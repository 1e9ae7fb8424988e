"""`/claims` against the real dashboard server (gunicorn), from the attacker's side: an anonymous
client gets no claim data (redirected to the login page, the page callback refused); an officer
of Jianye (320105) asking for Xuanwu (320102) by the query string sees only Jianye's items and
counts; an admin sees the city with each item's unit and history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from cityops.dashboard import ids
from cityops.dashboard.auth import save_user
from cityops.storage.tables import column_names
from cityops.streams.claims.logic import Step, apply
from cityops.streams.claims.rows import claim_row, transition_row
from tests.e2e.conftest import PASSWORD, start_dashboard, stop_dashboard
from tests.integration.test_open311_media import signed_in

XUANWU_TITLE = "玄武老旧小区加装电梯"
JIANYE_TITLE = "建邺垃圾分类督导"


def played(item_id: str, community: str, unit: str, title: str, verbs: list[str]) -> list:
    """The rows the claims consumer would store for these steps."""
    at = datetime.now(UTC) - timedelta(hours=3)
    item, rows = None, []
    for n, verb in enumerate(verbs):
        fields = {"community": community} if verb in ("item", "confirm") else {"unit_id": unit}
        if verb == "item":
            fields |= {"category": "old_estate", "title": title}
        if verb == "confirm":
            fields["accepted"] = True
        step = Step(f"{item_id}-{n}", verb, item_id, at + timedelta(minutes=n), **fields)
        outcome = apply(step, item)
        assert outcome.item is not None and outcome.transition is not None, outcome.refusal
        item = outcome.item
        rows.append(("claims", claim_row(item)))
        rows.append(("claim_transitions", transition_row(outcome.transition, item.district)))
    return rows


def store(ch, rows: list) -> None:
    for table, row in rows:
        ch.execute(f"INSERT INTO {table} ({', '.join(column_names(table))}) VALUES", [row])


def page(session: requests.Session, dash, search: str = "") -> requests.Response:
    payload = {
        "output": f"{ids.PAGE}.children",
        "outputs": {"id": ids.PAGE, "property": "children"},
        "inputs": [{"id": ids.URL, "property": "pathname", "value": "/claims"}],
        "changedPropIds": [f"{ids.URL}.pathname"],
        "state": [
            {"id": ids.URL, "property": "search", "value": search},
            {"id": ids.LANG, "property": "data", "value": "zh"},
        ],
    }
    return session.post(f"{dash.url}/_dash-update-component", json=payload, timeout=30)


@pytest.fixture
def dashboard(isolated, artifacts_dir, request):
    home = isolated.settings.home
    save_user(home, "admin", PASSWORD, "admin", None)
    save_user(home, "jianye", PASSWORD, "officer", "320105")
    store(
        isolated.ch,
        played("320102001001-a1", "320102001001", "ru-320102-03", XUANWU_TITLE,
               ["item", "take", "progress", "done", "confirm"])
        + played("320105001001-b1", "320105001001", "ru-320105-02", JIANYE_TITLE,
                 ["item", "take"]),
    )  # fmt: skip
    dash = start_dashboard(isolated.env, home, artifacts_dir, request.node.name)
    yield dash
    stop_dashboard(dash)


def test_claims_page_needs_a_login_and_keeps_officers_to_their_district(dashboard):
    anonymous = requests.Session()
    shell = anonymous.get(f"{dashboard.url}/claims", timeout=10, allow_redirects=False)
    assert shell.status_code == 302 and "/login" in shell.headers["Location"]
    refused = page(anonymous, dashboard, "?district=320102")
    assert refused.status_code == 401
    assert XUANWU_TITLE not in refused.text and JIANYE_TITLE not in refused.text

    jianye = page(signed_in(dashboard, "jianye"), dashboard, "?district=320102")
    assert jianye.status_code == 200, jianye.text[:300]
    text = json.dumps(jianye.json(), ensure_ascii=False)
    assert JIANYE_TITLE in text and XUANWU_TITLE not in text
    assert '"data-district": "320102"' not in text and '"data-district": "320105"' in text

    admin = page(signed_in(dashboard, "admin"), dashboard)
    assert admin.status_code == 200, admin.text[:300]
    text = json.dumps(admin.json(), ensure_ascii=False)
    assert XUANWU_TITLE in text and JIANYE_TITLE in text
    assert "已确认办结" in text and "已认领" in text  # the states, Chinese first
    assert "玄武区人民医院" in text  # the claiming unit of the Xuanwu item
    assert "报告完成" in text and "社区确认" in text  # its history
