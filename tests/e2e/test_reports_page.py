"""/reports in a real Chromium: the admin's table of every district with the funnel, switching to
streets and weekly in the page, the CSV link for the same choice; Jianye's officer sees only
Jianye."""

from __future__ import annotations

import time

from cityops.dashboard import ids
from cityops.storage import report_rows as rr
from tests.e2e.builders import a_transition, an_incident, insert
from tests.e2e.conftest import login
from tests.waiting import wait_until


def seed(ch) -> None:
    start = int(rr.period("daily", rr.today_beijing()).start.timestamp())
    at = max(start + 1, int(time.time()) - 3600)
    insert(
        ch,
        "incidents",
        [
            an_incident(incident_id="320105001-a", reported_at=at, district="320105",
                        status="closed"),
            an_incident(incident_id="320102001-b", reported_at=at, district="320102",
                        street="320102001"),
        ],
    )  # fmt: skip
    insert(
        ch,
        "incident_transitions",
        [
            a_transition(incident_id="320105001-a", seq=1, at=at + 30, kind="dispatched"),
            a_transition(incident_id="320105001-a", seq=2, at=at + 330, kind="accepted"),
        ],
    )


def _rows(page) -> list[str]:
    return page.locator(f"#{ids.REPORT_TABLE} tr").all_inner_texts()[1:]


def _href(page) -> str:
    """The CSV link's target now (no auto-wait: Dash may re-mount the link while it updates)."""
    js = f"document.getElementById('{ids.REPORT_CSV}')?.getAttribute('href') || ''"
    return page.evaluate(js)


def test_the_admin_switches_between_districts_and_streets(isolated, dashboard, page):
    seed(isolated.ch)
    login(page, dashboard, "admin", next_path="/reports")
    page.wait_for_selector(f"#{ids.REPORT_TABLE}")
    assert len(_rows(page)) == 11
    assert "建邺区" in page.locator(f"#{ids.REPORT_TABLE}").inner_text()
    assert "5m" in page.locator(f"#{ids.REPORT_FUNNEL}").inner_text()  # 300 s to accept
    today = rr.today_beijing().isoformat()
    assert f"date={today}" in _href(page)
    page.locator(f"#{ids.REPORT_BY} input[value=street]").check()
    wait_until(lambda: len(_rows(page)) == 100, timeout=30, what="the street rows")
    page.locator(f"#{ids.REPORT_PERIOD} input[value=weekly]").check()
    wait_until(
        lambda: "period=weekly" in _href(page),
        timeout=30,
        what="the weekly CSV link",
    )
    href = _href(page)
    assert "by=street" in href
    download = page.request.get(f"{dashboard.url}{href}")
    assert download.ok and download.text().splitlines()[0] == ",".join(rr.COLUMNS)


def test_an_officer_sees_only_their_district(isolated, dashboard, page):
    seed(isolated.ch)
    login(page, dashboard, "jianye", next_path="/reports?by=street")
    page.wait_for_selector(f"#{ids.REPORT_TABLE}")
    rows = _rows(page)
    assert rows and all(r.startswith("320105") for r in rows)
    assert "320102" not in page.locator(f"#{ids.REPORT_BODY}").inner_text()
