"""退单审核 in a real Chromium: an officer of the district sees a pending return with its reason on
the incident page, upholds one return and reassigns another through the dropdown; each decision
is a city.incident.reassign.v1 on city.events as the district's desk."""

from __future__ import annotations

import json
import time

from cityops.dashboard import ids
from tests.e2e.builders import an_incident, insert
from tests.e2e.conftest import login
from tests.e2e.test_drilldown import read_events
from tests.waiting import wait_until

REASON = "位于小区内部，属物业管理范围"


def pending_returns(ch, now: int) -> None:
    state = json.dumps(
        {"returned_by": "urban_mgmt", "return_reason": REASON},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    rows = [
        {
            **an_incident(
                incident_id=f"320105001-r{i}",
                reported_at=now - 60,
                district="320105",
                street="320105001",
                title=f"占道经营 {i}",
            ),
            "returns": 1,
            "state": state,
        }  # fmt: skip
        for i in range(2)
    ]
    insert(ch, "incidents", rows)


def test_the_desk_upholds_and_reassigns_returns(isolated, services, dashboard, page, artifacts_dir):
    pending_returns(isolated.ch, int(time.time()))
    login(page, dashboard, "jianye", next_path="/incidents/320105001-r0")
    page.wait_for_selector(f"#{ids.RETURN_REVIEW}")
    assert page.locator(f"#{ids.RETURN_REASON}").inner_text() == REASON
    assert "退单审核" in page.locator(f"#{ids.RETURN_REVIEW}").inner_text()
    page.screenshot(path=str(artifacts_dir / "return-review.png"), full_page=True)
    page.click(f"#{ids.RETURN_UPHOLD}")
    page.wait_for_selector(f"#{ids.RETURN_RESULT} .ok")

    page.goto(f"{dashboard.url}/incidents/320105001-r1")
    page.wait_for_selector(f"#{ids.RETURN_REVIEW}")
    page.click(f"#{ids.RETURN_TO}")
    page.keyboard.type("Housing")
    page.keyboard.press("Enter")
    page.click(f"#{ids.RETURN_REASSIGN}")
    page.wait_for_selector(f"#{ids.RETURN_RESULT} .ok")

    events = wait_until(
        lambda: (
            (found := read_events(services.bootstrap, isolated.topics.events))
            and (found if len(found) >= 2 else None)
        ),
        30,
        "both decisions on city.events",
    )
    decided = {e["data"]["incident_id"]: e for e in events}
    assert set(decided) == {"320105001-r0", "320105001-r1"}
    for event in decided.values():
        assert event["type"] == "city.incident.reassign.v1"
        assert event["source"] == "/departments/desk_320105"
        assert event["data"]["actor"] == "jianye"
    assert decided["320105001-r0"]["data"]["to_department"] == "urban_mgmt"  # 维持
    assert decided["320105001-r1"]["data"]["to_department"] == "housing"  # 改派
