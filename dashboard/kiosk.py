"""The wall's kiosk token as the running dashboard sees it, re-read when it changes.

The token is `kiosk_token` in `$CITYOPS_HOME/secrets.json` when that file has one (`cityops up`
makes it, `cityops kiosk rotate` replaces it); otherwise the CITYOPS_KIOSK_TOKEN setting. A kiosk
session remembers a fingerprint of the token it was opened with and ends as soon as the token
changes, without restarting the dashboard.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from pathlib import Path

from cityops.private_files import secrets_path


def fingerprint(token: str) -> str:
    """What a session keeps of the token: enough to tell tokens apart, useless to open a wall."""
    return hashlib.sha256(b"cityops-kiosk\0" + token.encode()).hexdigest()[:24]


class KioskToken:
    def __init__(self, home: Path, configured: str | None) -> None:
        self._path = secrets_path(home)
        self._configured = configured or None
        self._seen: tuple | None = None
        self._from_file: str | None = None
        self._lock = threading.Lock()

    def current(self) -> str | None:
        """The token in force now (one stat per call; the file is read only when it changed)."""
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return self._configured
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if key != self._seen:
                try:
                    token = json.loads(self._path.read_text(encoding="utf-8")).get("kiosk_token")
                except (OSError, ValueError):
                    token = None  # half-visible or broken file: keep the last good token
                else:
                    self._seen = key
                    self._from_file = token or None
            return self._from_file or self._configured

    def opens(self, offered: str) -> str | None:
        """The fingerprint to keep in the session when `offered` is the token in force."""
        token = self.current()
        if token and hmac.compare_digest(offered.encode(), token.encode()):
            return fingerprint(token)
        return None

    def still_valid(self, kept) -> bool:
        """Whether a session's kept fingerprint belongs to the token in force."""
        token = self.current()
        return bool(
            token and isinstance(kept, str) and hmac.compare_digest(kept, fingerprint(token))
        )
