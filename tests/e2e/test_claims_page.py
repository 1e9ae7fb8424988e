"""`/claims` in a real Chromium: a Jianye officer signs in and sees Jianye's claim items by
state with the claiming unit, the counts of their district only, the history of an item, and the
labels in English after the language toggle."""

from __future__ import annotations

from cityops.dashboard import ids
from cityops.dashboard.pages.claims import CLAIMS_COUNTS, CLAIMS_ITEMS
from tests.e2e.conftest import login
from tests.integration.test_claims_dashboard import played, store


def test_an_officer_sees_the_claims_of_their_district(page, dashboard, isolated, artifacts_dir):
    store(
        isolated.ch,
        played("320105001001-e1", "320105001001", "ru-320105-03", "建邺老旧小区加装电梯",
               ["item", "take", "progress", "done", "confirm"])
        + played("320105001002-e2", "320105001002", "ru-320105-01", "建邺错时共享停车",
                 ["item", "take"])
        + played("320102001001-e3", "320102001001", "ru-320102-01", "玄武垃圾分类督导",
                 ["item"]),
    )  # fmt: skip
    login(page, dashboard, "jianye", "/claims")
    items = page.locator(f"#{CLAIMS_ITEMS}")
    items.get_by_text("建邺老旧小区加装电梯").wait_for()
    assert items.get_by_text("建邺错时共享停车").count() == 1
    assert items.get_by_text("玄武垃圾分类督导").count() == 0
    unit = page.locator('table[data-status="confirmed"] tr[data-item="320105001001-e1"] td').nth(3)
    assert "建邺区人民医院" in unit.inner_text()  # the claiming unit, Chinese shown
    counts = page.locator(f"#{CLAIMS_COUNTS} tr[data-district]")
    assert counts.count() == 1
    assert counts.first.inner_text().split()[-4:] == ["2", "2", "1", "1"]
    page.locator('tr[data-item="320105001001-e1"] summary').click()
    history = page.locator('tr[data-item="320105001001-e1"] li')
    assert history.count() == 5 and "社区确认" in history.last.inner_text()
    page.screenshot(path=str(artifacts_dir / "claims-zh.png"), full_page=True)
    page.click(f"#{ids.LANG_TOGGLE}")
    page.get_by_text("Resident-unit claims").wait_for()
    assert page.get_by_text("confirmed", exact=True).first.is_visible()
    page.screenshot(path=str(artifacts_dir / "claims-en.png"), full_page=True)
