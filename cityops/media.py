"""Evidence photos of Open311 requests: what an upload is (by its first bytes, never by the
type or name the client declared), where it is kept, and how a stored name is read back.

A photo is stored once as `$CITYOPS_HOME/media/<sha256 of its bytes>.<ext>`: the client's file
name is never used, so no upload can name a path (`../`), and the same photo sent twice is one
file. The gateway stores and serves them (`/open311/v2/media/<name>`); the dashboard shows them
on the incident page (`/media/<incident_id>/<name>`, dashboard/evidence.py). Both read a name
only through `media_file`, which accepts nothing but the stored-name pattern."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

MEDIA_DIR = "media"
# (extension, content type, test on the first bytes)
_KINDS = (
    ("jpg", "image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff")),
    ("png", "image/png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    ("gif", "image/gif", lambda b: b[:6] in (b"GIF87a", b"GIF89a")),
    ("webp", "image/webp", lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP"),
)
CONTENT_TYPES = {ext: content_type for ext, content_type, _ in _KINDS}
NAME = re.compile(r"^[0-9a-f]{64}\.(?:jpg|png|gif|webp)$")
URL_NAME = re.compile(r"/open311/v2/media/([0-9a-f]{64}\.(?:jpg|png|gif|webp))$")


class MediaError(ValueError):
    """An upload refused: `status` 413 (too large) or 400 (not an image we keep)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def image_kind(head: bytes) -> str | None:
    """The extension of a JPEG, PNG, GIF or WebP image by its magic bytes; None otherwise (SVG,
    HTML, PDF … are refused: an SVG can carry script)."""
    for ext, _, matches in _KINDS:
        if matches(head):
            return ext
    return None


def check_upload(data: bytes, limit: int) -> str:
    """The extension to store `data` under, or a MediaError saying why not."""
    if len(data) > limit:
        raise MediaError(413, f"media is larger than {limit} bytes")
    if not data:
        raise MediaError(400, "media is empty")
    ext = image_kind(data[:16])
    if ext is None:
        raise MediaError(400, "media must be a JPEG, PNG, GIF or WebP image (by its content)")
    return ext


def name_of(data: bytes, ext: str) -> str:
    return f"{hashlib.sha256(data).hexdigest()}.{ext}"


def store(home: Path | str, data: bytes, ext: str) -> str:
    """Writes the photo (once; atomically) and returns its stored name."""
    name = name_of(data, ext)
    folder = Path(home) / MEDIA_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)  # citizens' photos: private
    target = folder / name
    if not target.exists():
        temporary = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        # O_EXCL: a fresh file of mode 0600, never an existing file or link an attacker placed
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    return name


def media_file(home: Path | str, name: str) -> Path | None:
    """The stored file of a name, or None when the name is not a stored-name (no path can be
    formed from anything else) or no such photo is stored."""
    if not NAME.fullmatch(name):
        return None
    path = Path(home) / MEDIA_DIR / name
    return path if path.is_file() else None


def stored_name(media_url: str | None) -> str | None:
    """The stored name a media_url of this platform points at; None for any other URL."""
    if not media_url:
        return None
    match = URL_NAME.search(media_url)
    return match.group(1) if match else None
