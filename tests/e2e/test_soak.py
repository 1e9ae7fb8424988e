"""A wall display runs for days: the browser's JS heap over a long run at a 2 s refresh, with data
changing every second. Slow; run with `-m slow` (CITYOPS_SOAK_SECONDS, default 3600)."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from cityops.dashboard import ids
from cityops.storage.client import connect
from tests.e2e.builders import an_event, an_incident, insert


def keep_inserting(target, stop: threading.Event) -> None:
    ch = connect(target)
    n = 0
    try:
        while not stop.wait(1.0):
            now = time.time()
            insert(
                ch,
                "events",
                [an_event(id=f"soak-{n}", time=now, title=f"事件 {n}", severity=1 + n % 4)],
            )
            insert(
                ch,
                "incidents",
                [
                    # a bounded set of incidents that keep changing: the growth measured is
                    # the page's own, not more markers and rows on the screen
                    an_incident(
                        incident_id=f"soak-{n % 40}",
                        version=n + 1,
                        reported_at=now,
                        severity=1 + n % 4,
                        joint=int(n % 7 == 0),
                        lat=31.9 + (n % 50) / 200,
                        lon=118.7 + (n % 37) / 150,
                    )
                ],
            )
            n += 1
    finally:
        ch.disconnect()


@pytest.mark.slow
@pytest.mark.timeout(0)
@pytest.mark.dashboard_settings(refresh_seconds=2, stale_seconds=60)
def test_wall_heap_stays_flat_over_a_long_run(isolated, dashboard, page, artifacts_dir):
    duration = float(os.environ.get("CITYOPS_SOAK_SECONDS", "3600"))
    stop = threading.Event()
    writer = threading.Thread(
        target=keep_inserting, args=(isolated.settings.clickhouse, stop), daemon=True
    )
    writer.start()
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.enable")
    page.goto(dashboard.wall_url())
    page.wait_for_selector(f"#{ids.kpi_value(ids.KPI_EVENTS_TODAY)}")

    def heap() -> int:
        cdp.send("HeapProfiler.collectGarbage")
        return page.evaluate("performance.memory.usedJSHeapSize")

    def refreshes(count: int) -> None:
        for _ in range(count):
            last = page.evaluate("window._cityopsOkAt || 0")
            page.wait_for_function("t => (window._cityopsOkAt || 0) > t", arg=last, timeout=30000)

    refreshes(10)  # warm up: the first figures, fonts and caches
    samples = [(0.0, heap())]
    started = time.monotonic()
    try:
        while time.monotonic() - started < duration:
            refreshes(15)
            samples.append((round(time.monotonic() - started, 1), heap()))
    finally:
        stop.set()
        writer.join(5)
    growth = samples[-1][1] - samples[0][1]
    hours = max(samples[-1][0], 1) / 3600
    report = {
        "seconds": samples[-1][0],
        "refresh_seconds": 2,
        "start_bytes": samples[0][1],
        "end_bytes": samples[-1][1],
        "max_bytes": max(s[1] for s in samples),
        "growth_bytes": growth,
        "growth_bytes_per_hour": round(growth / hours),
        "samples": samples,
    }
    (artifacts_dir / "soak-heap.json").write_text(json.dumps(report, indent=1))
    page.screenshot(path=str(artifacts_dir / "wall-after-soak.png"))
    assert page.locator(f"#{ids.STALE_BANNER}").is_hidden()
    # a day at this rate must stay far below what a wall browser can hold
    assert growth / hours < 20 * 1024 * 1024, report
