"""Files only their owner may read (secrets.json with the kiosk token and session key, stack.json,
users.json): created with mode 0600 from the first byte and replaced atomically, never written
first and narrowed with chmod afterwards (that leaves a moment in which anyone may read them).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

SECRETS_FILE = "secrets.json"


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` (mode 0600) through a fresh temporary file and an atomic rename, so
    readers never see a half-written file and the file is never readable by others."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: a fresh inode whose mode is 0600 (or narrower by the umask) from its creation.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def secrets_path(home: Path) -> Path:
    return Path(home) / SECRETS_FILE


def read_secrets(home: Path) -> dict[str, str]:
    path = secrets_path(home)
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


_SECRETS = {
    "kiosk_token": lambda: secrets.token_urlsafe(24),
    "secret_key": lambda: secrets.token_urlsafe(32),
    "reporter_secret": lambda: secrets.token_urlsafe(32),  # Open311's reporter_hash HMAC key
}


def stack_secrets(home: Path) -> dict[str, str]:
    """Kiosk token, session key and reporter-hash key, made once per home and kept private to
    its owner; an older file gets the missing keys added."""
    values = read_secrets(home)
    missing = {name: make() for name, make in _SECRETS.items() if not values.get(name)}
    if missing:
        values = {**values, **missing}
        write_private(secrets_path(home), json.dumps(values))
    return values


def rotate_kiosk_token(home: Path) -> str:
    """A new kiosk token in secrets.json (the session key stays); returns the token."""
    values = {**read_secrets(home)}
    values["kiosk_token"] = secrets.token_urlsafe(24)
    values.setdefault("secret_key", secrets.token_urlsafe(32))
    write_private(secrets_path(home), json.dumps(values))
    return values["kiosk_token"]
