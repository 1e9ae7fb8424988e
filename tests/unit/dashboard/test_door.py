"""The pure parts of the dashboard's door: the login back-off table, the strike bookkeeping, text
escaping for plotly's HTML subset, private files, kiosk token rotation and session versions."""

from __future__ import annotations

import json
import os
import stat

import pytest

from cityops import private_files
from cityops.dashboard import auth, figures, kiosk
from cityops.dashboard.throttle import CAP, FORGET, LoginThrottle, backoff, retry_after_header
from cityops.deploy import stack
from cityops.settings import Settings
from cityops.streams.publish.keys import create_key


@pytest.mark.parametrize(
    "strikes, seconds",
    [
        (0, 0),
        (4, 0),
        (5, 1),
        (6, 1),
        (7, 2),
        (8, 4),
        (9, 8),
        (13, 128),
        (14, 256),
        (15, CAP),
        (99, CAP),
    ],
)
def test_backoff_doubles_from_one_second_after_five_strikes_up_to_a_cap(strikes, seconds):
    assert backoff(strikes) == seconds


@pytest.mark.parametrize("seconds, header", [(0.2, "1"), (1.0, "1"), (1.01, "2"), (300, "300")])
def test_retry_after_is_whole_seconds_never_zero(seconds, header):
    assert retry_after_header(seconds) == header


def test_five_failures_lock_a_user_and_refused_attempts_wait_longer():
    t = LoginThrottle()
    for n in range(1, 6):
        assert t.check("li", "10.0.0.1", n).retry_after == 0
        verdict = t.failure("li", "10.0.0.1", n)
        assert verdict.retry_after == 0  # the 5th wrong password still gets the login page
        assert verdict.lockouts == (("user", "address") if n == 5 else ())
    sixth = t.check("li", "10.0.0.1", 5.1)
    seventh = t.check("li", "10.0.0.1", 5.2)
    eighth = t.check("li", "10.0.0.1", 5.3)
    waits = (sixth.retry_after, seventh.retry_after, eighth.retry_after)
    assert waits == pytest.approx((1, 2, 4))
    assert sixth.lockouts == ()  # one log line per lockout, not one per refused attempt
    # once the wait is over the password is checked again; another failure is answered 429
    assert t.check("li", "10.0.0.1", 5.3 + 4.01).retry_after == 0
    assert t.failure("li", "10.0.0.1", 5.3 + 4.01).retry_after == pytest.approx(8)


def test_the_address_is_locked_across_user_names_and_a_user_across_addresses():
    t = LoginThrottle()
    for n in range(5):
        t.failure(f"user{n}", "10.0.0.9", 1.0)
    assert t.check("someone-else", "10.0.0.9", 1.5).retry_after > 0
    assert t.check("someone-else", "10.0.0.10", 1.5).retry_after == 0
    for n in range(5):
        t.failure("wang", f"10.1.0.{n}", 1.0)
    assert t.check("wang", "10.2.0.1", 1.5).retry_after > 0


def test_a_successful_login_resets_the_user_but_not_the_address():
    t = LoginThrottle()
    for _ in range(4):
        t.failure("li", "10.0.0.1", 1.0)
    t.success("li")
    t.failure("li", "10.0.0.1", 1.0)  # 5th for the address, 1st for the user
    assert t.check("li", "10.0.0.2", 1.1).retry_after == 0
    assert t.check("zhao", "10.0.0.1", 1.1).retry_after > 0


def test_strikes_are_forgotten_after_a_quiet_while_and_memory_is_bounded():
    t = LoginThrottle(capacity=100)
    for _ in range(4):
        t.failure("li", "10.0.0.1", 0.0)
    t.failure("li", "10.0.0.1", FORGET + 1)  # a fresh count, not the 5th strike
    assert t.check("li", "10.0.0.1", FORGET + 1.1).retry_after == 0
    for n in range(10_000):
        t.failure(f"spray{n}", f"10.3.{n // 256}.{n % 256}", 2.0)
    assert len(t) <= 200


def test_figure_text_is_escaped_for_plotlys_html_subset():
    title = '<b>x</b><a href="https://evil.example">click</a> & "q"'
    assert figures.plain(title) == (
        '&lt;b&gt;x&lt;/b&gt;&lt;a href="https://evil.example"&gt;click&lt;/a&gt; &amp; "q"'
    )
    marker = {"lat": 32.0, "lon": 118.7, "severity": 4, "title": title}
    fig = figures.map_figure({"features": []}, [("320105", "<i>建邺</i>", "Jianye")], {}, [marker])
    texts = [*fig.data[0].text, *fig.data[1].text]
    assert texts and all("<" not in text for text in texts)
    patch = figures.map_patch([("320105", "建邺", "Jianye")], {}, [marker]).to_plotly_json()
    assert "<b>" not in json.dumps(patch)
    top = figures.top_categories_figure([("<a href=x>y</a>", 3)])
    assert all("<" not in label for label in top.data[0].y)


def test_private_files_are_created_0600_without_a_chmod(tmp_path, monkeypatch):
    chmods = []
    monkeypatch.setattr(os, "chmod", lambda *a, **k: chmods.append(a))
    monkeypatch.setattr(type(tmp_path), "chmod", lambda *a, **k: chmods.append(a))
    old = os.umask(0o022)
    try:
        values = private_files.stack_secrets(tmp_path)
        stack.Stack(Settings(home=tmp_path)).write_state()
        auth.save_user(tmp_path, "li", "s3cret-pass", "officer", None)
        create_key(tmp_path, "hotline12345")
    finally:
        os.umask(old)
    for name in ("secrets.json", "stack.json", "users.json", "keys.json"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name
    assert chmods == []
    assert private_files.stack_secrets(tmp_path) == values  # made once per home
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_rotation_changes_the_kiosk_token_and_the_wall_address(tmp_path):
    first = private_files.stack_secrets(tmp_path)
    (tmp_path / "stack.json").write_text(
        json.dumps({"wall": f"http://127.0.0.1:8050/?kiosk={first['kiosk_token']}"})
    )
    wall = stack.rotate_kiosk(tmp_path)
    now = private_files.read_secrets(tmp_path)
    assert now["kiosk_token"] != first["kiosk_token"]
    assert now["secret_key"] == first["secret_key"]
    assert wall == f"http://127.0.0.1:8050/?kiosk={now['kiosk_token']}"
    assert stack.status(tmp_path)["wall"] == wall


def test_the_dashboard_follows_the_kiosk_token_on_disk(tmp_path):
    token = kiosk.KioskToken(tmp_path, "from-settings")
    kept = token.opens("from-settings")
    assert kept and token.still_valid(kept)
    assert token.opens("guess") is None
    first = private_files.stack_secrets(tmp_path)["kiosk_token"]
    assert not token.still_valid(kept)  # the file wins over the setting
    kept = token.opens(first)
    assert token.still_valid(kept)
    private_files.rotate_kiosk_token(tmp_path)
    assert not token.still_valid(kept)
    assert token.opens(first) is None
    assert not token.still_valid(True)  # a session from before fingerprints


def test_password_change_and_logout_bump_the_session_version(tmp_path):
    auth.save_user(tmp_path, "li", "s3cret-pass", "officer", None)
    version = auth.authenticate(tmp_path, "li", "s3cret-pass").session_version
    auth.revoke_sessions(tmp_path, "li")
    auth.set_password(tmp_path, "li", "another-pass")
    assert auth.authenticate(tmp_path, "li", "s3cret-pass") is None
    assert auth.authenticate(tmp_path, "li", "another-pass").session_version == version + 2
    with pytest.raises(ValueError):
        auth.set_password(tmp_path, "nobody", "another-pass")
    with pytest.raises(ValueError):
        auth.set_password(tmp_path, "li", "short")


def test_throttled_attempts_pay_no_password_hashing(tmp_path, monkeypatch):
    from flask import Flask

    auth.save_user(tmp_path, "li", "s3cret-pass", "officer", None)
    server = Flask("door-test")
    auth.install(server, Settings(home=tmp_path, secret_key="k" * 32))
    checks = []
    real = auth.check_password_hash
    monkeypatch.setattr(auth, "check_password_hash", lambda *a: checks.append(1) or real(*a))
    client = server.test_client()
    client.get("/login")
    with client.session_transaction() as sess:
        csrf = sess["csrf"]
    statuses = []
    for password in ["wrong-pass"] * 8 + ["s3cret-pass"]:
        answer = client.post("/login", data={"username": "li", "password": password, "csrf": csrf})
        statuses.append(answer.status_code)
    assert statuses == [200] * 5 + [429] * 4
    assert len(checks) == 5  # the refused attempts, even the right password, were not hashed
