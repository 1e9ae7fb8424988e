"""Per-department API keys for the HTTP gateway, stored hashed in `$CITYOPS_HOME/keys.json` (0600).

A key is 32 random bytes, so a plain SHA-256 is the right hash (no password stretching needed);
the key itself is printed once by `cityops keys create` and never stored or logged.

Every key has a scope: `events` (the default) may publish CloudEvents on `POST /api/v1/events` and
Open311 requests, and read every Open311 request in full; `open311` (a citizen-reporting app) may
only post Open311 requests and reads what anonymous readers read. A revoked key stays in the file
(with `revoked_at`) and no longer authenticates.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cityops.private_files import write_private
from cityops.schemas.taxonomy import DEPARTMENTS

KEY_PREFIX = "cok_"
SCOPES = ("events", "open311")
DEFAULT_SCOPE = "events"


@dataclass(frozen=True)
class ApiKey:
    key_id: str  # public, names the key in logs and rate limits
    department: str
    scope: str = DEFAULT_SCOPE


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def keys_file(home: Path) -> Path:
    return Path(home) / "keys.json"


def create_key(home: Path, department: str, scope: str = DEFAULT_SCOPE) -> tuple[str, ApiKey]:
    """Makes a key for `department`, stores its hash, returns (the key, its record)."""
    if department not in DEPARTMENTS:
        raise KeyError(department)
    if scope not in SCOPES:
        raise ValueError(scope)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(key_id=secrets.token_hex(4), department=department, scope=scope)
    path = keys_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = _read(path)
    entries.append(
        {
            "key_id": record.key_id,
            "sha256": hash_key(key),
            "department": department,
            "scope": scope,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    write_private(path, json.dumps({"keys": entries}, indent=1))
    return key, record


def list_keys(home: Path) -> list[dict]:
    """Every key's public record (id, department, scope, created_at, revoked_at); no hashes."""
    return [
        {
            "key_id": e.get("key_id"),
            "department": e.get("department"),
            "scope": e.get("scope", DEFAULT_SCOPE),
            "created_at": e.get("created_at"),
            "revoked_at": e.get("revoked_at"),
        }
        for e in _read(keys_file(home))
    ]


def revoke_key(home: Path, key_id: str) -> bool:
    """Marks the key revoked (False when there is no such key, or it was revoked already)."""
    path = keys_file(home)
    entries = _read(path)
    for entry in entries:
        if entry.get("key_id") == key_id and not entry.get("revoked_at"):
            entry["revoked_at"] = datetime.now(UTC).isoformat(timespec="seconds")
            write_private(path, json.dumps({"keys": entries}, indent=1))
            return True
    return False


def _read(path: Path) -> list[dict]:
    try:
        return list(json.loads(path.read_text()).get("keys", []))
    except FileNotFoundError:
        return []


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
                e["sha256"]: ApiKey(e["key_id"], e["department"], e.get("scope", DEFAULT_SCOPE))
                for e in entries
                if e.get("department") in DEPARTMENTS
                and e.get("scope", DEFAULT_SCOPE) in SCOPES
                and not e.get("revoked_at")
            }
            self._stamp = stamp


def create_key_cli(settings, department: str, scope: str = DEFAULT_SCOPE) -> int:
    if department not in DEPARTMENTS:
        print(
            f"cityops: error: unknown department {department[:40]!r} "
            "(see `cityops registry export --kind departments`)",
            file=sys.stderr,
        )
        return 2
    key, record = create_key(settings.home, department, scope)
    print(key)
    print(
        f"cityops: key {record.key_id} ({scope}) for {department} stored hashed in "
        f"{keys_file(settings.home)}; it is shown only this once",
        file=sys.stderr,
    )
    return 0


def list_keys_cli(settings, *, as_json: bool = False) -> int:
    keys = list_keys(settings.home)
    if as_json:
        print(json.dumps(keys, ensure_ascii=False))
        return 0
    for k in keys:
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
        print(f"{k['key_id']:10} {k['department']:16} {k['scope']:8} {k['created_at']}  {state}")
    return 0


def revoke_key_cli(settings, key_id: str) -> int:
    if not revoke_key(settings.home, key_id):
        print(
            f"cityops: error: no active key {key_id[:40]!r} (see `cityops keys list`)",
            file=sys.stderr,
        )
        return 2
    print(f"cityops: key {key_id} revoked", file=sys.stderr)
    return 0
