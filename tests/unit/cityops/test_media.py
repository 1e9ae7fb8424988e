"""Evidence photos: an upload is an image by its first bytes (never by its declared type or
name), within the size limit, stored under its hash; a stored name is the only thing that
leads to a file."""

from __future__ import annotations

import hashlib

import pytest

from cityops import media

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
GIF = b"GIF89a" + b"\x00" * 32
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32

KINDS = [
    ("png", PNG, "png"),
    ("jpeg", JPEG, "jpg"),
    ("gif", GIF, "gif"),
    ("webp", WEBP, "webp"),
    ("html", b"<html><script>alert(1)</script></html>", None),
    ("svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', None),
    ("pdf", b"%PDF-1.7\n", None),
    ("riff but not webp", b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
    ("png magic late", b"x" + PNG, None),
]


@pytest.mark.parametrize(("name", "data", "ext"), KINDS, ids=[k[0] for k in KINDS])
def test_an_image_is_known_by_its_magic_bytes(name, data, ext) -> None:
    assert media.image_kind(data[:16]) == ext


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (PNG + b"\x00" * 100, 413, "media is larger than 100 bytes"),
        (b"", 400, "media is empty"),
        (b"GIF88a", 400, "media must be a JPEG, PNG, GIF or WebP image (by its content)"),
    ],
)
def test_an_upload_is_refused_with_its_status(data, status, reason) -> None:
    with pytest.raises(media.MediaError) as caught:
        media.check_upload(data, 100)
    assert (caught.value.status, str(caught.value)) == (status, reason)


def test_a_photo_is_stored_once_under_its_hash(tmp_path) -> None:
    name = media.store(tmp_path, PNG, "png")
    assert name == hashlib.sha256(PNG).hexdigest() + ".png"
    assert media.store(tmp_path, PNG, "png") == name
    assert [p.name for p in (tmp_path / "media").iterdir()] == [name]
    assert media.media_file(tmp_path, name).read_bytes() == PNG
    assert (tmp_path / "media").stat().st_mode & 0o077 == 0  # private to the stack's user
    assert (tmp_path / "media" / name).stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "name",
    [
        "../secrets.json",
        "..%2Fsecrets.json",
        "/etc/passwd",
        "a" * 64 + ".svg",
        "A" * 64 + ".png",  # upper case: never a stored name
        "a" * 64 + ".png/../../keys.json",
        "a" * 63 + ".png",
        "",
    ],
)
def test_only_a_stored_name_leads_to_a_file(tmp_path, name) -> None:
    (tmp_path / "secrets.json").write_text("{}")
    assert media.media_file(tmp_path / "home", name) is None


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://gw:8080/open311/v2/media/" + "ab" * 32 + ".jpg", "ab" * 32 + ".jpg"),
        ("https://elsewhere.example/photo.jpg", None),
        ("https://evil.example/open311/v2/media/../../x.png", None),
        (None, None),
    ],
)
def test_the_stored_name_of_a_media_url(url, name) -> None:
    assert media.stored_name(url) == name
