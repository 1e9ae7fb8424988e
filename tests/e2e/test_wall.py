"""The wall display in a real Chromium against a real ClickHouse: it shows the numbers storage
holds, fits the screen, and turns red when data stops or storage goes away."""

from __future__ import annotations

import time

import pytest

from cityops.dashboard import ids
from cityops.storage.client import connect, migrate
from tests.e2e.builders import an_event, an_incident, insert
from tests.e2e.conftest import start_dashboard, stop_dashboard


def a_known_city(ch, now: int) -> None:
    """7 events just now; 5 incidents reported within the day: 3 open (one in joint handling,
    one past its deadline, one escalated; one severe), 2 closed (one of them with a repeat)."""
    insert(
        ch,
        "events",
        [an_event(id=f"ev-{i}", time=now - 5 - i, incident_id=f"inc-{i % 5}") for i in range(7)],
    )
    insert(
        ch,
        "incidents",
        [
            an_incident(
                incident_id="inc-0",
                reported_at=now - 3000,
                joint=1,
                departments=("urban_mgmt", "water"),
                severity=3,
                district="320105",
            ),
            an_incident(
                incident_id="inc-1",
                reported_at=now - 3000,
                breaches=1,
                district="320102",
                street="320102001",
                lat=32.05,
                lon=118.8,
            ),
            an_incident(
                incident_id="inc-2", reported_at=now - 3000, escalations=1, level="district"
            ),
            an_incident(incident_id="inc-3", reported_at=now - 3000),
            an_incident(
                incident_id="inc-3",
                reported_at=now - 3000,
                version=2,
                status="closed",
                updated_at=now - 60,
            ),
            an_incident(incident_id="inc-4", reported_at=now - 3000, repeat_count=2),
            an_incident(
                incident_id="inc-4",
                reported_at=now - 3000,
                version=2,
                status="closed",
                repeat_count=2,
                updated_at=now - 60,
            ),
        ],
    )


def kpi_text(page, kpi: str) -> str:
    return page.locator(f"#{ids.kpi_value(kpi)}").inner_text()


def wait_kpi(page, kpi: str, expected: str, timeout: float = 20) -> None:
    page.wait_for_function(
        "([id, want]) => { const e = document.getElementById(id);"
        " return e && e.innerText === want; }",
        arg=[ids.kpi_value(kpi), expected],
        timeout=timeout * 1000,
    )


def test_wall_shows_the_numbers_clickhouse_holds(isolated, dashboard, page, artifacts_dir):
    now = int(time.time())
    a_known_city(isolated.ch, now)
    page.goto(dashboard.wall_url())
    wait_kpi(page, ids.KPI_OPEN, "3")
    assert kpi_text(page, ids.KPI_EVENTS_TODAY) == "7"
    assert kpi_text(page, ids.KPI_JOINT) == "1"
    assert kpi_text(page, ids.KPI_SLA_BREACHED) == "1"
    assert kpi_text(page, ids.KPI_ESCALATED) == "1"
    assert kpi_text(page, ids.KPI_CLOSURE_RATE) == "40.0%"
    assert kpi_text(page, ids.KPI_RESOLUTION_RATE) == "100.0%"
    assert kpi_text(page, ids.KPI_REPEAT_RATE) == "20.0%"
    for element in (ids.MAP, ids.CHAIN, ids.JOINT_BOARD, ids.TICKER, ids.FRESHNESS, *ids.KPIS):
        assert page.locator(f"#{element}").count() == 1, element
    page.wait_for_selector(f"#{ids.JOINT_BOARD} .jb-row")
    page.wait_for_selector(f"#{ids.TICKER} .tk-row")
    assert page.locator(f"#{ids.STALE_BANNER}").is_hidden()
    # the wall fits 1920x1080 and its numbers are readable from across the room
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight + 1")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    size = page.evaluate(
        f"parseFloat(getComputedStyle(document.getElementById("
        f"'{ids.kpi_value(ids.KPI_OPEN)}')).fontSize)"
    )
    assert size >= 48
    page.wait_for_selector(f"#{ids.MAP} .maplibregl-canvas, #{ids.MAP} canvas")
    # What the map paints (MapLibre's own sources, not plotly's data) must follow the numbers on
    # every refresh, not only the first: more open incidents in one district change its fill.
    painted = """(id) => { const g = document.querySelector('#' + id + ' .js-plotly-plot');
          if (!g || !g._fullLayout || !g._fullLayout.map) return null;
          const sources = Object.values(g._fullLayout.map._subplot.map.getStyle().sources);
          const fills = sources.filter(s => s.data && s.data.features && s.data.features.length);
          return fills.length
              ? fills[0].data.features.map(f => f.properties.fc).join(';') : null; }"""
    page.wait_for_function(f"() => ({painted})('{ids.MAP}') !== null", timeout=20_000)
    # at least one refresh after the first paint: the wall's clock script notes when each
    # refresh's answer arrives (window._cityopsOkAt, browser seconds)
    first_paint = page.evaluate("window._cityopsOkAt || 0")
    page.wait_for_function(
        "(seen) => (window._cityopsOkAt || 0) > seen", arg=first_paint, timeout=20_000
    )
    before = page.evaluate(painted, ids.MAP)
    insert(
        isolated.ch,
        "incidents",
        [
            an_incident(
                incident_id=f"inc-more-{n}",
                reported_at=now - 600,
                updated_at=int(time.time()),
                district="320113",
            )
            for n in range(40)
        ],
    )
    page.wait_for_function(
        f"(before) => {{ const now = ({painted})('{ids.MAP}'); return now && now !== before; }}",
        arg=before,
        timeout=30_000,
    )
    page.screenshot(path=str(artifacts_dir / "wall-1920x1080.png"))
    page.click(f"#{ids.LANG_TOGGLE}")
    page.wait_for_selector(".app.lang-en")
    page.screenshot(path=str(artifacts_dir / "wall-1920x1080-en.png"))


def test_wall_fits_a_4k_screen(isolated, dashboard, browser, artifacts_dir):
    a_known_city(isolated.ch, int(time.time()))
    context = browser.new_context(viewport={"width": 3840, "height": 2160})
    page = context.new_page()
    try:
        page.goto(dashboard.wall_url())
        wait_kpi(page, ids.KPI_OPEN, "3")
        assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight + 1")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.screenshot(path=str(artifacts_dir / "wall-3840x2160.png"))
    finally:
        context.close()


def test_wall_escapes_text_from_events(isolated, dashboard, page):
    now = int(time.time())
    title = "<script>alert(1)</script>"
    insert(isolated.ch, "events", [an_event(id="ev-x", time=now - 2, title=title, severity=4)])
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(dashboard.wall_url())
    page.wait_for_selector(f"#{ids.TICKER} .tk-text")
    assert page.locator(f"#{ids.TICKER} .tk-text").first.inner_text() == title
    assert dialogs == []


@pytest.mark.dashboard_settings(stale_seconds=6)
def test_stale_banner_appears_when_inserts_stop(isolated, dashboard, page, artifacts_dir):
    insert(isolated.ch, "events", [an_event(id="ev-fresh", time=time.time())])
    page.goto(dashboard.wall_url())
    wait_kpi(page, ids.KPI_EVENTS_TODAY, "1")
    assert page.locator(f"#{ids.STALE_BANNER}").is_hidden()
    # no more inserts: the newest event ages past 6 s
    page.wait_for_selector(f"#{ids.STALE_BANNER}:not(.hidden)", timeout=20000)
    assert "数据未更新 / data stale" in page.locator(f"#{ids.STALE_BANNER}").inner_text()
    page.screenshot(path=str(artifacts_dir / "wall-stale.png"))
    # and it goes away when data flows again
    insert(isolated.ch, "events", [an_event(id="ev-again", time=time.time())])
    page.wait_for_selector(f"#{ids.STALE_BANNER}.hidden", state="attached", timeout=20000)


def test_stale_banner_appears_when_clickhouse_stops(
    private_clickhouse, isolated, users, page, artifacts_dir
):
    database = "wall_stop"
    admin = connect(private_clickhouse.target, database=False)
    migrate(admin, database)
    admin.disconnect()
    target = private_clickhouse.target.with_database(database)
    ch = connect(target)
    insert(ch, "events", [an_event(id="ev-1", time=time.time())])
    ch.disconnect()
    env = {**isolated.env, "CITYOPS_CLICKHOUSE_URL": target.url(), "CITYOPS_DATABASE": database}
    dash = start_dashboard(
        env,
        isolated.settings.home,
        artifacts_dir,
        "clickhouse-stops",
        refresh_seconds=1,
        stale_seconds=300,
    )
    try:
        page.goto(dash.wall_url())
        wait_kpi(page, ids.KPI_EVENTS_TODAY, "1")
        assert page.locator(f"#{ids.STALE_BANNER}").is_hidden()
        private_clickhouse.stop()
        page.wait_for_selector(f"#{ids.STALE_BANNER}:not(.hidden)", timeout=30000)
        assert "数据未更新 / data stale" in page.locator(f"#{ids.STALE_BANNER}").inner_text()
        assert "Traceback" not in page.content()
        page.screenshot(path=str(artifacts_dir / "wall-clickhouse-down.png"))
    finally:
        stop_dashboard(dash)
