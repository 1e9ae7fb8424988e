"""Logins of the dashboard: users with hashed passwords in `$CITYOPS_HOME/users.json` (0600),
flask-login sessions, roles, the district scope of an officer, and the wall's kiosk token.

Who may do what: `admin` and `officer` log in and may act on incidents; an officer with a district
sees only that district (every query gets the scope). A browser that opened `/?kiosk=<token>` gets
a read-only kiosk session: the wall display and nothing else. Everyone else goes to /login.

The door: a login needs the CSRF token of the visitor's own session; failed logins are throttled
per user and per address (dashboard/throttle.py); each user has a session version in the users
file that logout and a password change bump, so sessions issued before stop working at once; a
kiosk session ends when the kiosk token is rotated (dashboard/kiosk.py).
"""

from __future__ import annotations

import fcntl
import functools
import hmac
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from urllib.parse import urlparse

from flask import Flask, abort, jsonify, redirect, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.security import check_password_hash, generate_password_hash

from cityops.dashboard.kiosk import KioskToken
from cityops.dashboard.throttle import THRESHOLD, LoginThrottle, retry_after_header
from cityops.private_files import write_private

log = logging.getLogger("cityops.dashboard.auth")

ROLES = ("officer", "admin", "secretary")
CITY_DEPARTMENT = "hotline12345"  # the city-level desk that acts for users without a district
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


@dataclass(frozen=True)
class User(UserMixin):
    name: str
    role: str
    district: str | None = None
    department: str | None = None
    street: str | None = None  # an officer of one street (三级: 市、区、街道)
    unit: str | None = None  # a secretary's community, street or district (书记办)
    # Sessions carry the version they were issued under; a newer one in the users file ends them.
    session_version: int = field(default=0, compare=False)

    def get_id(self) -> str:
        return self.name

    @property
    def scope(self) -> str | None:
        """The unit code this user is restricted to (None: the whole city): an officer's street
        or district, a secretary's unit; queries restrict by the code's level
        (storage/latest.py scope_term)."""
        if self.role == "officer":
            return self.street or self.district
        if self.role == "secretary":
            return self.unit or "-"  # a secretary without a unit sees nothing (never the city)
        return None

    @property
    def may_act(self) -> bool:
        """Secretaries read their supervision board; officers and admins act on incidents."""
        return self.role in ("officer", "admin")

    @property
    def acting_department(self) -> str:
        """The department code actions are published under (`source` of the CloudEvent)."""
        if self.department:
            return self.department
        district = self.district or (self.street or "")[:6] or None
        return f"desk_{district}" if district else CITY_DEPARTMENT


# -- the user file --------------------------------------------------------------------------------


def users_path(home: Path) -> Path:
    return Path(home) / "users.json"


def load_users(home: Path) -> dict[str, dict]:
    path = users_path(home)
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8")).get("users", {})


@contextmanager
def _users_locked(home: Path) -> Iterator[dict[str, dict]]:
    """Read-modify-write of the users file, one writer at a time (threads and processes)."""
    lock = Path(home) / ".users.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        users = load_users(home)
        yield users
        write_private(users_path(home), json.dumps({"users": users}, ensure_ascii=False, indent=1))
    finally:
        os.close(fd)


def _user(name: str, record: dict) -> User:
    return User(
        name,
        record["role"],
        record.get("district"),
        record.get("department"),
        record.get("street"),
        record.get("unit"),
        int(record.get("session_version", 0)),
    )


def scope_refusal(
    role: str, district: str | None, street: str | None, unit: str | None
) -> str | None:
    """Why this role cannot have this scope (None: it can). Pure; codes by their length."""
    if role == "secretary":
        if not unit or len(unit) not in (6, 9, 12) or not unit.isdigit():
            return "a secretary needs --unit: a community, street or district code"
        if district or street:
            return "a secretary is scoped by --unit only"
        return None
    if unit:
        return "--unit is for secretaries"
    if street is not None:
        if role != "officer":
            return "--street is for officers"
        if len(street) != 9 or not street.isdigit():
            return f"{street!r} is not a street code (district adcode + 3 digits)"
        if district and district != street[:6]:
            return f"street {street} is not in district {district}"
    return None


def save_user(
    home: Path,
    name: str,
    password: str,
    role: str,
    district: str | None,
    department: str | None = None,
    *,
    street: str | None = None,
    unit: str | None = None,
) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    refusal = scope_refusal(role, district, street, unit)
    if refusal:
        raise ValueError(refusal)
    if not name or not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise ValueError("user name: letters, digits, '.', '_' and '-' only")
    if len(password) < 8:
        raise ValueError("password: at least 8 characters")
    digest = generate_password_hash(password)
    with _users_locked(home) as users:
        before = users.get(name, {})
        users[name] = {
            "password": digest,
            "role": role,
            "district": district,
            "department": department,
            "street": street,
            "unit": unit,
            # a user saved again (new password, role or district) loses the sessions it had
            "session_version": int(before.get("session_version", -1)) + 1,
        }


def set_password(home: Path, name: str, password: str) -> None:
    """A new password for an existing user; every session of the user ends."""
    if len(password) < 8:
        raise ValueError("password: at least 8 characters")
    digest = generate_password_hash(password)
    with _users_locked(home) as users:
        if name not in users:
            raise ValueError(f"no user {name!r}")
        users[name]["password"] = digest
        users[name]["session_version"] = int(users[name].get("session_version", 0)) + 1


def revoke_sessions(home: Path, name: str) -> None:
    """End every session of `name` (logout signs the user out everywhere)."""
    with _users_locked(home) as users:
        if name in users:
            users[name]["session_version"] = int(users[name].get("session_version", 0)) + 1


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


def add_user_cli(
    settings,
    name: str,
    role: str,
    district: str | None = None,
    *,
    street: str | None = None,
    unit: str | None = None,
) -> int:
    """`cityops users add NAME --role … [--district ADCODE | --street CODE | --unit CODE]
    --password-stdin`: an officer of a district or a street, a secretary of a unit."""
    password = sys.stdin.readline().rstrip("\r\n")
    wanted = {"district": [district], "street": [street], None: [unit]}
    from cityops.schemas.registry import load_registry

    registry = load_registry()
    for level, codes in wanted.items():
        for code in codes:
            found = registry.unit(code) if code else None
            if code and (
                found is None
                or (level and found.level != level)
                or (not level and found.level not in ("district", "street", "community"))
            ):
                what = level or "community, street or district"
                print(f"error: {code!r} is not a {what} code of the registry", file=sys.stderr)
                return 2
    if street and not district:
        district = street[:6]  # a street officer belongs to the street's district
    try:
        save_user(settings.home, name, password, role, district, street=street, unit=unit)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    where = street or unit or district
    saved = users_path(settings.home)
    print(f"user {name} ({role}{', ' + where if where else ''}) saved in {saved}")
    return 0


def passwd_cli(settings, name: str) -> int:
    """`cityops users passwd NAME --password-stdin`: the user's sessions end at once."""
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        set_password(settings.home, name, password)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"password of {name} changed; its sessions are signed out")
    return 0


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
