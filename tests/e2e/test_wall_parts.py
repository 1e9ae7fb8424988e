"""The wall names the part of the stack that is down and clears by itself when it is back
(no reload): ClickHouse stopped and started again, a worker killed and restarted."""

from __future__ import annotations

import json
import os
import subprocess
import time

from cityops.dashboard import ids
from cityops.storage.client import connect, migrate
from tests.e2e.builders import an_event, insert
from tests.e2e.conftest import start_dashboard, stop_dashboard
from tests.e2e.test_wall import wait_kpi

PARTS = f"#{ids.STACK_PARTS}"


def wait_parts(page, text: str | None, timeout: float = 30) -> None:
    """Until the parts banner shows `text` (None: until it is hidden)."""
    if text is None:
        page.wait_for_selector(f"{PARTS}.hidden", state="attached", timeout=timeout * 1000)
    else:
        page.wait_for_function(
            "([sel, want]) => { const e = document.querySelector(sel);"
            " return e && !e.classList.contains('hidden') && e.innerText.includes(want); }",
            arg=[PARTS, text],
            timeout=timeout * 1000,
        )


def test_the_wall_names_a_stopped_database_and_recovers_without_reload(
    private_clickhouse, isolated, users, page, artifacts_dir
):
    database = "wall_parts"
    admin = connect(private_clickhouse.target, database=False)
    migrate(admin, database)
    admin.disconnect()
    target = private_clickhouse.target.with_database(database)
    ch = connect(target)
    insert(ch, "events", [an_event(id="ev-1", time=time.time())])
    ch.disconnect()
    env = {**isolated.env, "CITYOPS_CLICKHOUSE_URL": target.url(), "CITYOPS_DATABASE": database}
    dash = start_dashboard(env, isolated.settings.home, artifacts_dir, "parts-clickhouse",
                           refresh_seconds=1, stale_seconds=300)  # fmt: skip
    try:
        page.goto(dash.wall_url())
        wait_kpi(page, ids.KPI_EVENTS_TODAY, "1")
        wait_parts(page, None)
        private_clickhouse.stop()
        wait_parts(page, "数据库中断")
        page.screenshot(path=str(artifacts_dir / "wall-parts-clickhouse-down.png"))
        private_clickhouse.start()
        wait_parts(page, None)
        # The data refresh reconnected too: a new event shows without a reload.
        ch = connect(target)
        insert(ch, "events", [an_event(id="ev-2", time=time.time())])
        ch.disconnect()
        wait_kpi(page, ids.KPI_EVENTS_TODAY, "2", timeout=30)
        assert page.locator(f"#{ids.STALE_BANNER}").is_hidden()
    finally:
        stop_dashboard(dash)


def test_the_wall_names_a_restarting_worker(isolated, dashboard, page, artifacts_dir):
    """The supervisor's state file (this test plays the supervisor: its pid is alive) names a
    worker process; the process dies → "restarting"; a new one recorded → the banner clears."""
    home = isolated.settings.home
    worker = subprocess.Popen(["sleep", "600"])
    replacement = None

    def record(pid: int, state: str) -> None:
        (home / "stack.json").write_text(json.dumps({
            "supervisor": os.getpid(),
            "processes": [{"name": "worker-1", "pid": pid, "log": "w.log", "state": state,
                           "restarts": 0}],
        }))  # fmt: skip

    try:
        record(worker.pid, "up")
        page.goto(dashboard.wall_url())
        wait_parts(page, None)
        worker.kill()
        worker.wait()
        wait_parts(page, "处理服务正在重启")
        page.screenshot(path=str(artifacts_dir / "wall-parts-worker-restarting.png"))
        replacement = subprocess.Popen(["sleep", "600"])
        record(replacement.pid, "up")
        wait_parts(page, None)
    finally:
        (home / "stack.json").unlink(missing_ok=True)
        for proc in (worker, replacement):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
