"""Open311 `media` uploads against the real gateway, worker, broker, ClickHouse and dashboard: a
citizen's photo is checked by its content, stored under its hash, kept as the report's media_url,
answered by the Open311 reads and shown on the incident page. From the attacker's side: an
oversized upload, HTML sent as image/png, an SVG, a file name with ../, an anonymous upload, a
script URL as media_url, an upload onto someone else's request, and paths out of the media
folder — each refused, nothing stored."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import time
import zlib

import pytest
import requests

from cityops.dashboard import ids
from cityops.dashboard.auth import save_user
from cityops.deploy import services as svc
from tests.e2e.builders import an_incident, insert
from tests.e2e.conftest import PASSWORD, start_dashboard, stop_dashboard
from tests.integration.test_gateway import start_gateway, stop_gateway
from tests.integration.test_gateway_open311 import worker  # noqa: F401 - fixture
from tests.waiting import wait_until

MEDIA_MAX = 100_000


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG (grey pixels)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def gateway(isolated, tmp_path):
    gw = start_gateway(
        isolated.env,
        isolated.settings.home,
        tmp_path / "gateway.log",
        gateway_media_max=MEDIA_MAX,
        gateway_max_body=200_000,
    )
    yield gw
    stop_gateway(gw)


def stored_files(home) -> list[str]:
    folder = home / "media"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def post(gateway, fmt="json", files=None, **fields) -> requests.Response:
    data = {"service_code": "noise", "address_id": "320104002001", **fields}
    return requests.post(
        f"{gateway.url}/open311/v2/requests.{fmt}", data=data, files=files, timeout=30
    )


def test_uploads_that_must_not_be_kept(gateway, isolated):
    home = isolated.settings.home
    key = gateway.key("hotline12345")
    photo = png()

    too_big = post(gateway, api_key=key, files={"media": ("a.png", photo + b"\0" * MEDIA_MAX)})
    assert too_big.status_code == 413, too_big.text
    assert f"larger than {MEDIA_MAX} bytes" in too_big.json()[0]["description"]
    body_too_big = post(gateway, api_key=key, files={"media": ("a.png", photo + b"\0" * 400_000)})
    assert body_too_big.status_code == 413 and body_too_big.json()[0]["code"] == 413

    html_as_png = post(
        gateway,
        api_key=key,
        files={"media": ("a.png", b"<html><script>alert(1)</script></html>", "image/png")},
    )
    assert html_as_png.status_code == 400, html_as_png.text
    assert "JPEG, PNG, GIF or WebP" in html_as_png.json()[0]["description"]
    svg = post(
        gateway,
        "xml",
        api_key=key,
        files={"media": ("a.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml")},
    )
    assert svg.status_code == 400 and b"<errors><error><code>400</code>" in svg.content

    anonymous = post(gateway, files={"media": ("a.png", photo, "image/png")})
    assert anonymous.status_code == 403, anonymous.text
    script_url = post(gateway, api_key=key, media_url="javascript:alert(document.cookie)")
    assert script_url.status_code == 400 and "media_url" in script_url.json()[0]["description"]
    both = post(
        gateway,
        api_key=key,
        media_url="https://example.org/a.png",
        files={"media": ("a.png", photo, "image/png")},
    )
    assert both.status_code == 400, both.text
    invalid_request = post(
        gateway, api_key=key, lat="48.85", long="2.35", files={"media": ("a.png", photo)}
    )
    assert invalid_request.status_code == 400  # a refused request keeps no photo either

    # someone else's request: Open311 has no way to add media to it
    victim = post(gateway, api_key=gateway.key("hotline12345"))
    token = victim.json()[0]["token"]
    onto = requests.post(
        f"{gateway.url}/open311/v2/requests/{token}.json",
        data={"api_key": key},
        files={"media": ("a.png", photo)},
        timeout=10,
    )
    assert onto.status_code == 405, onto.text
    assert stored_files(home) == []

    # out of the media folder by the serving path
    (home / "media").mkdir(exist_ok=True)
    for name in ("..%2Fkeys.json", "..%2F..%2Fetc%2Fpasswd", "%2E%2E%2Fsecrets.json"):
        answer = requests.get(f"{gateway.url}/open311/v2/media/{name}", timeout=10)
        assert answer.status_code == 404, (name, answer.status_code)
        assert "api_key" not in answer.text and "root:" not in answer.text
    missing = requests.get(f"{gateway.url}/open311/v2/media/{'0' * 64}.png", timeout=10)
    assert missing.status_code == 404


def test_a_photo_travels_to_the_incident_page(
    gateway,
    worker,  # noqa: F811
    isolated,
    artifacts_dir,
    request,
):
    home = isolated.settings.home
    key = gateway.key("hotline12345")
    photo = png(3, 3)
    name = hashlib.sha256(photo).hexdigest() + ".png"
    posted = post(
        gateway,
        api_key=key,
        description="夫子庙夜间施工噪声",
        files={"media": ("../../../../tmp/evil.png", photo, "application/octet-stream")},
    )
    assert posted.status_code == 200, posted.text
    assert stored_files(home) == [name]  # the client's name is never a path
    assert not any("evil" in p.name for p in home.parent.rglob("*"))
    token = posted.json()[0]["token"]

    def request_id():
        answer = requests.get(
            f"{gateway.url}/open311/v2/tokens/{token}.json", params={"api_key": key}, timeout=10
        )
        return answer.json()[0].get("service_request_id")

    incident_id = wait_until(
        request_id, 60, "the request stored", interval=0.25, details=lambda: svc.log_tail(worker)
    )

    def read():
        one = requests.get(f"{gateway.url}/open311/v2/requests/{incident_id}.json", timeout=10)
        return one.json()[0] if one.status_code == 200 else None

    found = wait_until(read, 30, "the request readable", interval=0.25)
    media_url = found["media_url"]
    assert media_url == f"{gateway.url}/open311/v2/media/{name}"
    image = requests.get(media_url, timeout=10)
    assert image.status_code == 200 and image.content == photo
    assert image.headers["Content-Type"] == "image/png"
    assert image.headers["X-Content-Type-Options"] == "nosniff"

    # the incident page shows it, from the dashboard's own /media/, to whoever may see the
    # incident: not to an anonymous visitor, nor to another district's officer, nor under an
    # incident of theirs that the photo is not evidence of
    save_user(home, "admin", PASSWORD, "admin", None)
    save_user(home, "qinhuai", PASSWORD, "officer", "320104")
    save_user(home, "jianye", PASSWORD, "officer", "320105")
    insert(
        isolated.ch,
        "incidents",
        [an_incident(incident_id="320105001-jy", reported_at=int(time.time()) - 60)],
    )
    dash = start_dashboard(isolated.env, home, artifacts_dir, request.node.name)
    own = f"/media/{incident_id}/{name}"
    try:
        anonymous = requests.get(f"{dash.url}{own}", timeout=10, allow_redirects=False)
        assert anonymous.status_code in (302, 401) and anonymous.content != photo
        admin, qinhuai, jianye = (signed_in(dash, n) for n in ("admin", "qinhuai", "jianye"))
        for path in (own, f"/media/320105001-jy/{name}", f"/media/{incident_id}/..%2F{name}"):
            if path != f"/media/{incident_id}/..%2F{name}":
                assert jianye.get(f"{dash.url}{path}", timeout=10).status_code == 404, path
            refused = jianye.get(f"{dash.url}{path}", timeout=10, allow_redirects=False)
            # 404, or Dash's page shell for a path that is no route (never the photo)
            assert refused.content != photo, path
            assert not refused.headers.get("Content-Type", "").startswith("image/"), path
        payload = {
            "output": f"{ids.PAGE}.children",
            "outputs": {"id": ids.PAGE, "property": "children"},
            "inputs": [
                {"id": ids.URL, "property": "pathname", "value": f"/incidents/{incident_id}"}
            ],
            "changedPropIds": [f"{ids.URL}.pathname"],
            "state": [
                {"id": ids.URL, "property": "search", "value": ""},
                {"id": ids.LANG, "property": "data", "value": "zh"},
            ],
        }
        rendered = admin.post(f"{dash.url}/_dash-update-component", json=payload, timeout=30)
        assert rendered.status_code == 200, rendered.text[:300]
        images = re.findall(r'"src":\s*"([^"]+)"', json.dumps(rendered.json()))
        assert images == [own]
        for session in (admin, qinhuai):
            shown = session.get(f"{dash.url}{own}", timeout=10)
            assert shown.status_code == 200 and shown.content == photo
            assert shown.headers["Content-Type"] == "image/png"
    finally:
        stop_dashboard(dash)


def signed_in(dash, name: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{dash.url}/login", timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
    done = session.post(
        f"{dash.url}/login",
        data={"username": name, "password": PASSWORD, "csrf": csrf, "next": "/incidents"},
        timeout=10,
    )
    assert done.ok and "/login" not in done.url, done.text[:300]
    return session
