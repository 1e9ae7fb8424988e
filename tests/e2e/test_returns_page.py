"""`/returns` in a real Chromium: a Jianye officer opens 退单审核 from the navigation and sees, per
returning department, the returns, upheld, reassigned and pending counts of their district only;
the recent returns with reason (markup in a reason shown as text), decision, who decided and
when; and the labels in English after the language toggle."""

from __future__ import annotations

import time

from cityops.dashboard import ids
from cityops.dashboard.pages.returns import RETURNS_COUNTS, RETURNS_RECENT
from tests.e2e.conftest import login
from tests.integration.test_returns_dashboard import (
    JIANYE_REASON,
    SCRIPT_REASON,
    XUANWU_REASON,
    seed_returns,
)


def _cells(page, row: str) -> list[str]:
    return page.locator(f"{row} td").all_inner_texts()


def test_an_officer_sees_the_returns_audit_of_their_district(
    page, dashboard, isolated, artifacts_dir
):
    seed_returns(isolated.ch, int(time.time()))
    login(page, dashboard, "jianye", "/incidents")
    page.locator(f"#{ids.NAV} a[href='/returns']").click()
    page.wait_for_url(f"{dashboard.url}/returns")
    counts = page.locator(f"#{RETURNS_COUNTS}")
    counts.wait_for()
    assert page.locator(f"#{RETURNS_COUNTS} tr[data-department]").count() == 3  # 2 + total
    assert _cells(page, f"#{RETURNS_COUNTS} tr[data-department=urban_mgmt]")[1:] == [
        "2", "1", "1", "0"
    ]  # fmt: skip
    assert _cells(page, f"#{RETURNS_COUNTS} tr[data-department=water]")[1:] == ["1", "0", "0", "1"]
    assert _cells(page, f"#{RETURNS_COUNTS} tr[data-department=_total]")[1:] == [
        "3", "1", "1", "1"
    ]  # fmt: skip
    recent = page.locator(f"#{RETURNS_RECENT}")
    assert recent.locator("tr[data-incident]").count() == 3
    assert XUANWU_REASON not in recent.inner_text()
    upheld = _cells(page, f"#{RETURNS_RECENT} tr[data-incident='320105001-r1']")
    assert JIANYE_REASON in upheld[3] and "维持" in upheld[4]
    assert "jianye" in upheld[5] and "建邺" in upheld[5]  # the officer and their desk
    assert upheld[6] != "—"
    moved = _cells(page, f"#{RETURNS_RECENT} tr[data-incident='320105001-r2']")
    assert "改派" in moved[4] and "housing" in moved[4]
    pending = _cells(page, f"#{RETURNS_RECENT} tr[data-incident='320105002-r3']")
    assert pending[3] == SCRIPT_REASON and "待审核" in pending[4] and pending[6] == "—"
    assert recent.locator("img").count() == 0  # the reason's markup stays text
    page.screenshot(path=str(artifacts_dir / "returns-zh.png"), full_page=True)
    page.click(f"#{ids.LANG_TOGGLE}")
    page.get_by_text("Returns audit").wait_for()
    assert page.get_by_text("reassigned", exact=True).first.is_visible()
    page.screenshot(path=str(artifacts_dir / "returns-en.png"), full_page=True)
