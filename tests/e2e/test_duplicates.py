"""可能重复 and 并单 in a real Chromium: a Jianye officer opens an incident and sees the other
Jianye incident of the same category 20 m away as a possible duplicate (distance and hours
apart), not the Xuanwu one nearby nor the one of another category, follows its link, and merges
it back with the button: a city.incident.merge.v1 on city.events as the district's desk."""

from __future__ import annotations

import time

from cityops.dashboard import ids
from cityops.dashboard.pages.incident_duplicates import DUPLICATES, MERGE_RESULT
from tests.e2e.conftest import login
from tests.e2e.test_drilldown import read_events
from tests.integration.test_duplicates_dashboard import seed_duplicates


def test_an_officer_sees_a_possible_duplicate_and_merges_it(
    page, dashboard, isolated, services, artifacts_dir
):
    seed_duplicates(isolated.ch, int(time.time()))
    login(page, dashboard, "jianye", next_path="/incidents/320105001-j1")
    section = page.locator(f"#{DUPLICATES}")
    section.wait_for()
    assert "可能重复" in section.inner_text()
    rows = section.locator("tr[data-incident]")
    assert rows.count() == 1
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[0] == "320105001-j2" and cells[2] == "20 m" and cells[3] == "1.0 h"
    assert "并入此事项" in cells[5]
    page.screenshot(path=str(artifacts_dir / "duplicates.png"), full_page=True)
    rows.first.locator("a").click()
    page.wait_for_url(f"{dashboard.url}/incidents/320105001-j2")
    back = page.locator(f"#{DUPLICATES} tr[data-incident='320105001-j1']")
    back.wait_for()
    page.fill(f"#{ids.ACTION_COMMENT}", "同一处路面破损")
    back.locator("button").click()
    page.wait_for_selector(f"#{MERGE_RESULT} .ok")
    assert "320105001-j1" in page.locator(f"#{MERGE_RESULT}").inner_text()
    (event,) = read_events(services.bootstrap, isolated.topics.events)
    assert event["type"] == "city.incident.merge.v1"
    assert event["source"] == "/departments/desk_320105" and event["data"]["actor"] == "jianye"
    data = event["data"]
    assert (data["incident_id"], data["into"], data["comment"]) == (
        "320105001-j2", "320105001-j1", "同一处路面破损"
    )  # fmt: skip
