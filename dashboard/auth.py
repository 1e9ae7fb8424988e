"""Logins of the dashboard: users with hashed passwords in `$CITYOPS_HOME/users.json` (0600),
flask-login sessions, roles, the district scope of an officer, and the wall's kiosk token.

Who may do what (the users themselves: dashboard/users.py): `admin` and `officer` log in and may
act on incidents; an officer with a district or a street sees only that unit (every query gets
the scope); a `secretary` sees their unit's supervision board and never acts. A browser that
opened `/?kiosk=<token>` gets a read-only kiosk session: the wall display and nothing else.
Everyone else goes to /login.

The door: a login needs the CSRF token of the visitor's own session; failed logins are throttled
per user and per address (dashboard/throttle.py); each user has a session version in the users
file that logout and a password change bump, so sessions issued before stop working at once; a
kiosk session ends when the kiosk token is rotated (dashboard/kiosk.py).
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import secrets
import time
from html import escape
from pathlib import Path
from urllib.parse import urlparse

from flask import Flask, abort, jsonify, redirect, request, session
from flask_login import LoginManager, current_user, login_user, logout_user
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.security import check_password_hash, generate_password_hash

from cityops.dashboard.kiosk import KioskToken
from cityops.dashboard.throttle import THRESHOLD, LoginThrottle, retry_after_header
from cityops.dashboard.users import (  # noqa: F401 - the users' names, as before, from auth
    CITY_DEPARTMENT,
    ROLES,
    User,
    _user,
    add_user_cli,
    load_users,
    passwd_cli,
    revoke_sessions,
    save_user,
    scope_refusal,
    set_password,
    users_path,
)

log = logging.getLogger("cityops.dashboard.auth")

# Paths a kiosk session may load: the wall and the Dash machinery behind it.
_KIOSK_PATHS = (
    "/",
    "/_dash-layout",
    "/_dash-dependencies",
    "/_dash-update-component",
    "/_reload-hash",
    "/_favicon.ico",
)
_PUBLIC_PREFIXES = (
    "/healthz",
    "/readyz",
    "/metrics",
    "/login",
    "/logout",
    "/assets/",
    "/_dash-component-suites/",
)


@functools.cache
def _unknown_user_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(home: Path, name: str, password: str) -> User | None:
    record = load_users(home).get(name)
    if record is None:
        # the same work as for a known name (one hash check, not a new hash and a check), so
        # timing does not tell which names exist
        check_password_hash(_unknown_user_hash(), password)
        return None
    if not check_password_hash(record["password"], password):
        return None
    return _user(name, record)


# -- who is asking --------------------------------------------------------------------------------


def signed_in() -> User | None:
    """The logged-in user, or None (kiosk sessions and anonymous visitors)."""
    user = current_user
    return user if getattr(user, "is_authenticated", False) else None


def is_kiosk() -> bool:
    return signed_in() is None and bool(session.get("kiosk"))


def current_scope() -> str | None:
    user = signed_in()
    return user.scope if user else None


def can_act() -> bool:
    user = signed_in()
    return user is not None and user.may_act


# -- wiring into Flask ----------------------------------------------------------------------------


def secret_key(settings) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    # No key configured: one per home, so sessions survive a restart of the dashboard.
    path = Path(settings.home) / "dashboard.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def install(server: Flask, settings) -> None:
    """Sessions, the login page and the guard in front of every route."""
    server.secret_key = secret_key(settings)
    hops = int(getattr(settings, "trusted_proxies", 0))
    if hops:  # the client's own address for the login throttle, from the proxies we run
        # Flask's documented way to wrap the WSGI app; its stubs declare wsgi_app a method.
        server.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            server.wsgi_app, x_for=hops, x_proto=hops
        )
    secure = bool(getattr(settings, "cookie_secure", False))
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_SECURE=secure,
    )
    kiosk = KioskToken(
        settings.home, settings.kiosk_token.get_secret_value() if settings.kiosk_token else None
    )
    throttle = LoginThrottle()
    manager = LoginManager()
    manager.init_app(server)

    @manager.user_loader
    def _load(name: str) -> User | None:
        record = load_users(settings.home).get(name)
        if record is None:
            return None
        user = _user(name, record)
        # a session from before the last logout or password change is not this user any more
        if session.get("sv") != user.session_version:
            return None
        return user

    @server.before_request
    def _guard():
        path = request.path
        token = request.args.get("kiosk")
        if token is not None and (opened := kiosk.opens(token)) is not None:
            session["kiosk"] = opened
        elif session.get("kiosk") and not kiosk.still_valid(session["kiosk"]):
            session.pop("kiosk", None)  # opened with a token that has been rotated since
        if path.startswith(_PUBLIC_PREFIXES):
            return None
        if signed_in() is not None:
            return None
        if session.get("kiosk") and path in _KIOSK_PATHS:
            return None
        if path.startswith("/_dash-") or request.method != "GET":
            abort(401)
        return redirect(f"/login?next={_safe_next(request.full_path)}")

    @server.route("/login", methods=["GET", "POST"])
    def _login():
        error = ""
        nxt = _safe_next(request.values.get("next", "/"))
        if request.method == "POST":
            expected = session.get("csrf")
            # no token in the session (a forged cross-site form) is refused, not compared
            if not expected or not hmac.compare_digest(
                request.form.get("csrf", "").encode(), str(expected).encode()
            ):
                abort(400)
            name = request.form.get("username", "")
            key = name[:128]  # throttle keys stay small whatever is posted
            address = request.remote_addr or "-"
            verdict = throttle.check(key, address, time.monotonic())
            if verdict.retry_after > 0:
                return _too_many(verdict.retry_after)
            user = authenticate(settings.home, name, request.form.get("password", ""))
            if user is not None:
                throttle.success(key)
                session.clear()  # nothing from before the login (kiosk flag, old CSRF token)
                session["sv"] = user.session_version
                login_user(user)
                return redirect(nxt)
            verdict = throttle.failure(key, address, time.monotonic())
            if verdict.lockouts:  # one line per lockout; the name escaped, so no forged lines
                log.warning(
                    "login lockout of %s after %d failed logins: user %s, address %s",
                    " and ".join(verdict.lockouts),
                    THRESHOLD,
                    ascii(name[:64]),
                    ascii(address),
                )
            if verdict.retry_after > 0:
                return _too_many(verdict.retry_after)
            error = "用户名或密码错误 / wrong user name or password"
        session["csrf"] = session.get("csrf") or secrets.token_urlsafe(16)
        return _LOGIN_PAGE.format(
            next=escape(nxt), csrf=escape(session["csrf"]), error=escape(error)
        )

    @server.route("/logout")
    def _logout():
        user = signed_in()
        if user is not None:
            revoke_sessions(settings.home, user.name)  # a copied cookie dies with this one
        logout_user()
        session.clear()
        return redirect("/login")

    @server.errorhandler(401)
    def _unauthorised(_):
        return jsonify({"error": "login required"}), 401


def _too_many(seconds: float):
    body = "登录尝试过多，请稍后再试 / too many sign-in attempts, try again later"
    return (
        body,
        429,
        {"Retry-After": retry_after_header(seconds), "Content-Type": "text/plain; charset=utf-8"},
    )


def _safe_next(target: str) -> str:
    # Only local paths: an open redirect would let a link send an officer elsewhere after login.
    parts = urlparse(target or "/")
    if parts.scheme or parts.netloc or not (parts.path or "/").startswith("/"):
        return "/"
    path = parts.path or "/"
    return path + (f"?{parts.query}" if parts.query and "kiosk=" not in parts.query else "")


_LOGIN_PAGE = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>登录 · cityops</title>
<link rel="stylesheet" href="/assets/style.css"></head>
<body class="login-body"><form class="login" method="post" action="/login">
<h1>城市运行一网统管 <small>City Operations</small></h1>
<label>用户名 / user <input name="username" id="login-username" autocomplete="username"
 required></label>
<label>密码 / password <input name="password" id="login-password" type="password"
 autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{next}"><input type="hidden" name="csrf" value="{csrf}">
<p class="login-error">{error}</p>
<button type="submit" id="login-submit">登录 / sign in</button>
</form></body></html>"""
