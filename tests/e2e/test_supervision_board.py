"""书记督办 in a real Chromium: the admin's /supervision shows each level's board, overdue first,
with what was tried per matter, in Chinese and in English; a community secretary sees their own
board on every path; the wall's kpi-supervised tile counts the open supervised matters."""

from __future__ import annotations

import time

from cityops.dashboard import ids
from cityops.dashboard.auth import save_user
from tests.e2e.builders import a_transition, an_incident, insert
from tests.e2e.conftest import PASSWORD, login

COMMUNITY = "320105001001"


def matters(ch, now: int) -> None:
    def row(iid: str, title: str, due: int, supervision: str, community: str = COMMUNITY) -> dict:
        base = an_incident(
            incident_id=iid, reported_at=now - 7200, district="320105", street="320105001",
            title=title, resolve_due=due,
        )  # fmt: skip
        loop = {"unsolved": 1, "callback": "unsolved", "returns": 0}
        return {**base, **loop, "status": "reopened", "community": community, "reopened": 1,
                "supervision": supervision}  # fmt: skip

    insert(
        ch,
        "incidents",
        [
            row("320105001-s1", "楼道堆物未清", now + 86400, "community"),
            row("320105001-s2", "路灯三次报修未亮", now - 60, "community"),  # overdue
            row("320105001-s3", "油烟扰民反复投诉", now + 3600, "street", COMMUNITY[:-1] + "2"),
        ],
    )
    insert(
        ch,
        "incident_transitions",
        [
            a_transition(
                incident_id="320105001-s2",
                seq=1,
                at=now - 7200,
                kind="dispatched",
                to_status="dispatched",
            ),
            a_transition(
                incident_id="320105001-s2",
                seq=2,
                at=now - 3600,
                kind="reopened",
                to_status="reopened",
                department="hotline12345",
                reason="callback: not solved",
            ),
            a_transition(
                incident_id="320105001-s2",
                seq=3,
                at=now - 3600,
                kind="supervised",
                to_status="reopened",
                department="",
                reason="书记督办 community (社区书记督办)",
            ),
        ],  # fmt: skip
    )


def test_the_boards_per_level_overdue_first_with_their_history(
    isolated, dashboard, page, artifacts_dir
):
    matters(isolated.ch, int(time.time()))
    login(page, dashboard, "admin", next_path="/supervision")
    page.wait_for_selector("#supervision-community .sv-row")
    community = page.locator("#supervision-community .sv-row")
    assert community.count() == 2
    first = community.nth(0)
    assert "路灯三次报修未亮" in first.inner_text() and "overdue" in first.get_attribute("class")
    first.locator("summary").click()
    history = first.locator(".sv-history").inner_text()
    assert "重新办理" in history and "书记督办" in history and "callback: not solved" in history
    assert "油烟扰民反复投诉" in page.locator("#supervision-street").inner_text()
    page.screenshot(path=str(artifacts_dir / "supervision-board.png"), full_page=True)
    page.click(".lang-toggle")
    page.wait_for_selector(".app.lang-en")
    assert "community secretary" in page.locator("#supervision-community h2").inner_text()

    save_user(isolated.settings.home, "sec_a", PASSWORD, "secretary", None, unit=COMMUNITY)
    page.goto(f"{dashboard.url}/logout")
    login(page, dashboard, "sec_a", next_path="/incidents")
    page.wait_for_selector("#supervision-community")
    board = page.locator("#supervision-board").inner_text()
    assert "楼道堆物未清" in board and "油烟扰民反复投诉" not in board
    assert page.locator("#supervision-street").count() == 0


def test_the_wall_tile_counts_open_supervised_matters(isolated, dashboard, page):
    matters(isolated.ch, int(time.time()))
    login(page, dashboard, "admin", next_path="/")
    page.wait_for_function(
        "document.querySelector('#kpi-supervised-value')?.innerText === '3'", timeout=30000
    )
    assert "重复投诉率" in page.locator(f"#{ids.kpi_delta('kpi-supervised')}").inner_text()
    for kpi in ids.KPIS:  # the contract's tiles are all still there
        assert page.locator(f"#{kpi}").count() == 1
