"""End-to-end fixtures: the dashboard served by the real `cityops dashboard` command (gunicorn) in a
subprocess on a free port against the test's own database, and Debian's Chromium via playwright."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from cityops.dashboard.auth import save_user
from cityops.deploy import services as svc
from tests.waiting import wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct-horse-battery"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Dashboard:
    url: str
    kiosk_token: str
    proc: subprocess.Popen
    log: Path
    home: Path

    def wall_url(self, **query) -> str:
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        return f"{self.url}/?kiosk={self.kiosk_token}{extra}"


def wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(
                f"dashboard exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            )
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200

    wait_until(
        answers,
        timeout,
        f"the dashboard to answer {url}",
        ignoring=(OSError,),  # not listening yet
        details=lambda: log.read_text()[-3000:],
    )


def start_dashboard(
    env: dict[str, str], home: Path, artifacts: Path, name: str, **settings
) -> Dashboard:
    port = svc.free_port()
    token = "kiosk-" + os.urandom(6).hex()
    full = {
        **env,
        "CITYOPS_HOME": str(home),
        "CITYOPS_DASHBOARD_PORT": str(port),
        "CITYOPS_KIOSK_TOKEN": token,
        "CITYOPS_SECRET_KEY": "test-secret-" + os.urandom(4).hex(),
        "PYTHONPATH": str(ROOT),
    }
    full.update({f"CITYOPS_{k.upper()}": str(v) for k, v in settings.items()})
    log = artifacts / f"dashboard-{name}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityops.deploy.cli", "dashboard"],
        env=full,
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/healthz", 60, proc, log)
    return Dashboard(url, token, proc, log, home)


def stop_dashboard(dash: Dashboard) -> None:
    if dash.proc.poll() is None:
        os.killpg(dash.proc.pid, 15)
        try:
            dash.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(dash.proc.pid, 9)
            dash.proc.wait(5)


@pytest.fixture(scope="session")
def cjk_font():
    """Chinese glyphs for screenshots (Debian's small fonts-wqy-microhei)."""
    listing = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
    if not listing.strip() and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "fonts-wqy-microhei"],
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )


@pytest.fixture(scope="package")
def browser(cjk_font):
    """Debian's Chromium through playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser context at 1920x1080."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def users(isolated):
    """An admin, an officer of Jianye district (320105) and one of Xuanwu (320102)."""
    save_user(isolated.settings.home, "admin", PASSWORD, "admin", None)
    save_user(isolated.settings.home, "jianye", PASSWORD, "officer", "320105")
    save_user(isolated.settings.home, "xuanwu", PASSWORD, "officer", "320102")
    return {"admin": PASSWORD, "jianye": PASSWORD, "xuanwu": PASSWORD}


@pytest.fixture
def dashboard(isolated, users, artifacts_dir, request):
    """The dashboard of this test's database, served by `cityops dashboard` (gunicorn)."""
    marker = request.node.get_closest_marker("dashboard_settings")
    extra = {"refresh_seconds": 1, **(marker.kwargs if marker else {})}
    dash = start_dashboard(
        isolated.env, isolated.settings.home, artifacts_dir, request.node.name, **extra
    )
    yield dash
    stop_dashboard(dash)


def login(page, dash: Dashboard, name: str, next_path: str = "/incidents") -> None:
    page.goto(f"{dash.url}/login?next={next_path}")
    page.fill("#login-username", name)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{dash.url}{next_path}*")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "dashboard_settings(**kw): CITYOPS_* settings of the dashboard"
    )
