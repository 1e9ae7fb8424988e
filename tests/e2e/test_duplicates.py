"""可能重复 in a real Chromium: a Jianye officer opens an incident and sees the other Jianye
incident of the same category 20 m away as a possible duplicate (distance and hours apart), not
the Xuanwu one nearby nor the one of another category, and follows its link."""

from __future__ import annotations

import time

from cityops.dashboard.pages.incident_duplicates import DUPLICATES
from tests.e2e.conftest import login
from tests.integration.test_duplicates_dashboard import seed_duplicates


def test_an_officer_sees_a_possible_duplicate(page, dashboard, isolated, artifacts_dir):
    seed_duplicates(isolated.ch, int(time.time()))
    login(page, dashboard, "jianye", next_path="/incidents/320105001-j1")
    section = page.locator(f"#{DUPLICATES}")
    section.wait_for()
    assert "可能重复" in section.inner_text()
    rows = section.locator("tr[data-incident]")
    assert rows.count() == 1
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[0] == "320105001-j2" and cells[2] == "20 m" and cells[3] == "1.0 h"
    page.screenshot(path=str(artifacts_dir / "duplicates.png"), full_page=True)
    rows.first.locator("a").click()
    page.wait_for_url(f"{dashboard.url}/incidents/320105001-j2")
    page.locator(f"#{DUPLICATES} tr[data-incident='320105001-j1']").wait_for()
