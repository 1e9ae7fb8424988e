"""The dashboard's door from the attacker's side, against the real `cityops dashboard` (gunicorn):
a forged login form, password guessing, a stolen session cookie, an old kiosk link, the cookie's
Secure flag, and a hostile incident title in the wall's map."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
import requests

from cityops.dashboard import ids
from tests.e2e.builders import an_incident, insert
from tests.e2e.conftest import PASSWORD, ROOT
from tests.waiting import wait_until

HOSTILE = '<b>x</b><a href="https://evil.example/">y</a>'


def csrf_of(browser: requests.Session, url: str) -> str:
    page = browser.get(f"{url}/login", timeout=10)
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def sign_in(url: str, name: str = "admin", password: str = PASSWORD) -> requests.Session:
    browser = requests.Session()
    answer = browser.post(
        f"{url}/login",
        data={"username": name, "password": password, "csrf": csrf_of(browser, url)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    return browser


def signed_in(browser: requests.Session, url: str) -> bool:
    """Whether the officer's list opens (a visitor without a session is sent to /login)."""
    answer = browser.get(f"{url}/incidents", allow_redirects=False, timeout=10)
    assert answer.status_code in (200, 302), answer.status_code
    return answer.status_code == 200


def stolen(browser: requests.Session) -> requests.Session:
    thief = requests.Session()
    thief.cookies.update(browser.cookies)
    return thief


def cityops(env: dict, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cityops.deploy.cli", *args],
        input=stdin,
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_forged_login_without_a_session_token_is_refused(dashboard):
    # a cross-site form posts the placeholder and has no session of ours: no login may follow
    answer = requests.post(
        f"{dashboard.url}/login",
        data={"username": "admin", "password": PASSWORD, "csrf": "-", "next": "/incidents"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 400
    assert "session" not in answer.cookies
    assert signed_in(sign_in(dashboard.url), dashboard.url)  # the real form still works


def test_guessing_passwords_is_throttled_with_growing_waits(dashboard):
    guesser = requests.Session()
    csrf = csrf_of(guesser, dashboard.url)

    def attempt(password: str) -> requests.Response:
        return guesser.post(
            f"{dashboard.url}/login",
            data={"username": "jianye", "password": password, "csrf": csrf},
            allow_redirects=False,
            timeout=10,
        )

    assert [attempt(f"guess-{n}").status_code for n in range(5)] == [200] * 5
    sixth = attempt("guess-5")
    assert sixth.status_code == 429
    first_wait = int(sixth.headers["Retry-After"])
    seventh = attempt("guess-6")
    assert seventh.status_code == 429
    assert int(seventh.headers["Retry-After"]) > first_wait
    # while locked even the right password is refused, unchecked
    assert attempt(PASSWORD).status_code == 429
    # the address is locked too: another name, or a made-up forwarding header, does not help
    spoofed = guesser.post(
        f"{dashboard.url}/login",
        data={"username": "xuanwu", "password": "guess-7", "csrf": csrf},
        headers={"X-Forwarded-For": "203.0.113.9"},
        allow_redirects=False,
        timeout=10,
    )
    assert spoofed.status_code == 429
    wait_until(
        lambda: "login lockout" in dashboard.log.read_text(), 20, "the lockout line in the log"
    )
    lines = [line for line in dashboard.log.read_text().splitlines() if "login lockout" in line]
    assert len(lines) == 1 and "'jianye'" in lines[0], lines


def test_a_stolen_session_cookie_dies_with_logout(dashboard):
    officer = sign_in(dashboard.url)
    thief = stolen(officer)
    assert signed_in(thief, dashboard.url)
    officer.get(f"{dashboard.url}/logout", allow_redirects=False, timeout=10)
    assert not signed_in(thief, dashboard.url)
    assert signed_in(sign_in(dashboard.url), dashboard.url)  # and a new login works


def test_a_stolen_session_cookie_dies_with_a_password_change(isolated, dashboard):
    officer = sign_in(dashboard.url, "jianye")
    thief = stolen(officer)
    assert signed_in(thief, dashboard.url)
    done = cityops(
        isolated.env, "users", "passwd", "jianye", "--password-stdin", stdin="a-new-secret\n"
    )
    assert done.returncode == 0, done.stderr
    assert not signed_in(thief, dashboard.url)
    assert not signed_in(officer, dashboard.url)
    assert signed_in(sign_in(dashboard.url, "jianye", "a-new-secret"), dashboard.url)


def test_a_kiosk_session_ends_when_the_token_is_rotated(isolated, dashboard):
    wall = requests.Session()
    assert wall.get(dashboard.wall_url(), timeout=10).status_code == 200
    assert wall.get(f"{dashboard.url}/_dash-layout", timeout=10).status_code == 200
    done = cityops(isolated.env, "kiosk", "rotate")
    assert done.returncode == 0, done.stderr
    assert wall.get(f"{dashboard.url}/_dash-layout", timeout=10).status_code == 401
    assert wall.get(dashboard.wall_url(), allow_redirects=False, timeout=10).status_code == 302
    token = json.loads((dashboard.home / "secrets.json").read_text())["kiosk_token"]
    fresh = requests.Session()
    assert fresh.get(f"{dashboard.url}/?kiosk={token}", timeout=10).status_code == 200
    assert fresh.get(f"{dashboard.url}/_dash-layout", timeout=10).status_code == 200


@pytest.mark.dashboard_settings(trusted_proxies=1)
def test_behind_a_trusted_proxy_one_guesser_does_not_lock_out_other_clients(dashboard):
    guesser, colleague = requests.Session(), requests.Session()

    def attempt(browser, address: str, name: str, password: str) -> requests.Response:
        return browser.post(
            f"{dashboard.url}/login",
            data={"username": name, "password": password, "csrf": csrf_of(browser, dashboard.url)},
            headers={"X-Forwarded-For": address},
            allow_redirects=False,
            timeout=10,
        )

    for n in range(5):
        attempt(guesser, "203.0.113.7", f"name-{n}", "guess")
    assert attempt(guesser, "203.0.113.7", "xuanwu", PASSWORD).status_code == 429
    assert attempt(colleague, "198.51.100.2", "xuanwu", PASSWORD).status_code == 302


@pytest.mark.dashboard_settings(cookie_secure=1)
def test_the_session_cookie_is_secure_when_the_setting_says_https(dashboard):
    answer = requests.get(f"{dashboard.url}/login", timeout=10)
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("session=") and "Secure" in cookie and "HttpOnly" in cookie


def test_plain_http_keeps_a_cookie_without_secure(dashboard):
    answer = requests.get(f"{dashboard.url}/login", timeout=10)
    assert "Secure" not in answer.headers["Set-Cookie"]


def test_a_hostile_title_in_the_map_hover_is_shown_as_text(isolated, dashboard, page):
    now = int(time.time())
    incident = an_incident(
        incident_id="inc-evil", reported_at=now - 60, severity=4, title=HOSTILE, lat=32.0, lon=118.7
    )
    insert(isolated.ch, "incidents", [incident])
    page.goto(dashboard.wall_url())
    graph = f"document.querySelector('#{ids.MAP} .js-plotly-plot')"
    page.wait_for_function(
        f"() => {{ const g = {graph}; return g && g.data && g.data[1] && g.data[1].text"
        " && g.data[1].text.length > 0 && g._fullLayout && g._fullLayout.map; }",
        timeout=30_000,
    )
    # the figure the page got carries the title escaped for plotly's HTML subset
    texts = page.evaluate(f"() => {graph}.data[1].text")
    assert len(texts) == 1 and "<" not in texts[0] and "&lt;a href=" in texts[0], texts
    # and hovering the marker shows the title as written: no bold, no link
    page.wait_for_function(
        f"() => {{ const m = {graph}._fullLayout.map._subplot.map;"
        " return m.loaded() && !m.isMoving(); }",
        timeout=10_000,
    )
    x, y = page.evaluate(
        f"""() => {{ const g = {graph}; const map = g._fullLayout.map._subplot.map;
            const p = map.project([118.7, 32.0]);
            const box = map.getCanvas().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y]; }}"""
    )
    page.mouse.move(x, y)
    page.wait_for_selector(f"#{ids.MAP} .hoverlayer .hovertext", timeout=10_000)
    shown = page.locator(f"#{ids.MAP} .hoverlayer .hovertext").first
    assert "<b>x</b><a href=" in shown.text_content()
    assert page.locator(f"#{ids.MAP} .hoverlayer a").count() == 0
    assert page.locator(f"#{ids.MAP} .hoverlayer tspan[style*='bold']").count() == 0
