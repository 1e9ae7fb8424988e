"""Dashboard users: who they are (role, district, street, a secretary's unit), the users file
`$CITYOPS_HOME/users.json` (0600, werkzeug's salted hashes, one writer at a time) and the
`cityops users` commands. dashboard/auth.py puts them behind the login.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flask_login import UserMixin
from werkzeug.security import generate_password_hash

from cityops.private_files import write_private

ROLES = ("officer", "admin", "secretary")
CITY_DEPARTMENT = "hotline12345"  # the city-level desk that acts for users without a district


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
