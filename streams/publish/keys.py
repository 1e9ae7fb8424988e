"""Per-department API keys for the HTTP gateway, stored hashed in `$CITYOPS_HOME/keys.json` (0600).

A key is 32 random bytes, so a plain SHA-256 is the right hash (no password stretching needed);
the key itself is printed once by `cityops keys create` and never stored or logged.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from schemas.taxonomy import DEPARTMENTS

KEY_PREFIX = "cok_"


@dataclass(frozen=True)
class ApiKey:
    key_id: str  # public, names the key in logs and rate limits
    department: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def keys_file(home: Path) -> Path:
    return Path(home) / "keys.json"


def create_key(home: Path, department: str) -> tuple[str, ApiKey]:
    """Makes a key for `department`, stores its hash, returns (the key, its record)."""
    if department not in DEPARTMENTS:
        raise KeyError(department)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(key_id=secrets.token_hex(4), department=department)
    path = keys_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = _read(path)
    entries.append(
        {
            "key_id": record.key_id,
            "sha256": hash_key(key),
            "department": department,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    _write_private(path, {"keys": entries})
    return key, record


def _read(path: Path) -> list[dict]:
    try:
        return list(json.loads(path.read_text()).get("keys", []))
    except FileNotFoundError:
        return []


def _write_private(path: Path, doc: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out, indent=1)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class KeyStore:
    """Looks keys up by hash; re-reads keys.json when it changes, so a key created while the
    gateway runs works at once."""

    def __init__(self, home: Path) -> None:
        self.path = keys_file(home)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._by_hash: dict[str, ApiKey] = {}

    def lookup(self, key: str | None) -> ApiKey | None:
        if not key or len(key) > 200:
            return None
        self._refresh()
        return self._by_hash.get(hash_key(key))

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._by_hash = {}
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        with self._lock:
            entries = _read(self.path)
            self._by_hash = {
                e["sha256"]: ApiKey(e["key_id"], e["department"])
                for e in entries
                if e.get("department") in DEPARTMENTS
            }
            self._stamp = stamp


def create_key_cli(settings, department: str) -> int:
    if department not in DEPARTMENTS:
        print(
            f"cityops: error: unknown department {department!r} "
            "(see `cityops registry export --kind departments`)",
            file=sys.stderr,
        )
        return 2
    key, record = create_key(settings.home, department)
    print(key)
    print(
        f"cityops: key {record.key_id} for {department} stored hashed in "
        f"{keys_file(settings.home)}; it is shown only this once",
        file=sys.stderr,
    )
    return 0
