"""Open311's public reads from an anonymous client's side, against the real gateway, broker,
ClickHouse and incident engine: no department incidents, no exact location, a limit per client
address; and the reporter pseudonym is an HMAC with the server's secret, not a plain hash."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, datetime

import pytest
import requests

from cityops.deploy import services as svc
from cityops.schemas.events import parse_event
from cityops.schemas.registry import load_registry
from tests.integration.test_gateway import an_event, start_gateway, stop_gateway
from tests.integration.test_gateway_open311 import worker  # noqa: F401 - fixture
from tests.integration.test_sdk import read_topic
from tests.waiting import wait_until

MICRO_GRID = "3201020010010101"  # 玄武区, 第1微网格
OPEN311_MICRO_GRID = "3201040020010101"  # 秦淮区


@pytest.fixture
def gateway(isolated, tmp_path):
    gw = start_gateway(
        isolated.env,
        isolated.settings.home,
        tmp_path / "gateway.log",
        gateway_public_rate=1,
        gateway_public_burst=8,
    )
    yield gw
    stop_gateway(gw)


def exact(code: str) -> tuple[float, float]:
    """A point with six decimals inside the unit's district."""
    lat, lon = load_registry().point(code)
    return round(lat + 0.000123, 6), round(lon + 0.000456, 6)


def test_anonymous_readers_see_only_open311_requests_and_no_exact_location(
    gateway,
    worker,  # noqa: F811 - the fixture
):
    key = gateway.key("gas")
    lat, lon = exact(MICRO_GRID)
    chain = {c.level: c.code for c in load_registry().chain(MICRO_GRID)[1:]}
    internal = an_event(
        "gas-sensor-1",
        "gas",
        category="gas_leak",
        severity=4,
        title="燃气管网压力异常 玄武区某小区3栋",
        channel="sensor",
        location={**chain, "lat": lat, "lon": lon},
    )
    assert gateway.post(key, internal).status_code == 202
    app_key = gateway.key("hotline12345")
    o_lat, o_lon = exact(OPEN311_MICRO_GRID)
    posted = requests.post(
        f"{gateway.url}/open311/v2/requests.json",
        timeout=30,
        data={
            "api_key": app_key,
            "service_code": "noise",
            "lat": str(o_lat),
            "long": str(o_lon),
            "address_id": OPEN311_MICRO_GRID,
            "description": "夜间施工噪声",
        },
    )
    assert posted.status_code == 200, posted.text
    url = f"{gateway.url}/open311/v2/requests.json"

    def both_stored():  # a department key reads everything
        rows = requests.get(url, params={"api_key": key}, timeout=10).json()
        return rows if len(rows) == 2 else None

    stored = wait_until(
        both_stored, 60, "both incidents", interval=0.25, details=lambda: svc.log_tail(worker, 30)
    )
    full = {r["service_code"]: r for r in stored}
    assert (full["gas_leak"]["lat"], full["gas_leak"]["long"]) == (lat, lon)
    assert full["noise"]["address_id"] == OPEN311_MICRO_GRID

    public = requests.get(url, timeout=10)
    assert public.status_code == 200
    (seen,) = public.json()  # the gas company's incident is not public
    assert seen["service_code"] == "noise" and seen["description"] == "夜间施工噪声"
    assert (seen["lat"], seen["long"]) == (round(o_lat, 3), round(o_lon, 3))
    assert (seen["lat"], seen["long"]) != (o_lat, o_lon)
    assert seen["address_id"] == OPEN311_MICRO_GRID[:9]  # the street, not the micro-grid
    text = public.text
    assert MICRO_GRID not in text and OPEN311_MICRO_GRID not in text and "燃气" not in text
    gas_id = full["gas_leak"]["service_request_id"]
    one = requests.get(f"{gateway.url}/open311/v2/requests/{gas_id}.json", timeout=10)
    assert one.status_code == 404
    by_id = requests.get(url, params={"service_request_id": gas_id}, timeout=10)
    assert by_id.json() == []
    token = requests.get(f"{gateway.url}/open311/v2/tokens/gas-sensor-1.json", timeout=10)
    assert token.json()[0]["service_request_id"] is None


def test_hammering_public_reads_from_one_address_gets_429(gateway):
    url = f"{gateway.url}/open311/v2/requests.json"
    answers = [requests.get(url, timeout=10) for _ in range(20)]
    codes = [a.status_code for a in answers]
    assert codes[:8] == [200] * 8 and 429 in codes[8:], codes
    limited = next(a for a in answers if a.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1 and limited.json()[0]["code"] == 429
    single = requests.get(f"{gateway.url}/open311/v2/requests/x.json", timeout=10)
    assert single.status_code == 429
    # A key is charged per key instead; a wrong key is refused, not read anonymously.
    keyed = requests.get(url, params={"api_key": gateway.key("water")}, timeout=10)
    assert keyed.status_code == 200
    wrong = requests.get(url, params={"api_key": "cok_nope"}, timeout=10)
    assert wrong.status_code == 403


def test_each_public_read_is_bounded(gateway):
    url = f"{gateway.url}/open311/v2/requests.json"
    too_long = requests.get(
        url,
        params={"start_date": "2024-01-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
        timeout=10,
    )
    assert too_long.status_code == 400 and "days" in too_long.json()[0]["description"]
    many = ",".join(f"id-{n}" for n in range(201))
    assert requests.get(url, params={"service_request_id": many}, timeout=10).status_code == 400


def reporter_hashes(isolated, n: int) -> list[str]:
    records = read_topic(
        isolated.settings.bootstrap, isolated.topics.events, until=lambda r: len(r) >= n
    )
    now = datetime.now(UTC)
    return [parse_event(r.value, r.headers, now=now).data.reporter_hash for r in records]


def test_reporter_hash_is_an_hmac_with_the_server_secret(isolated, tmp_path):
    email = "Citizen@Example.cn"
    form = {"service_code": "noise", "address_id": "320104002", "email": email}
    home = isolated.settings.home
    for run in range(2):  # the same secret after a restart
        gw = start_gateway(isolated.env, home, tmp_path / f"gateway-{run}.log")
        try:
            key = gw.key("hotline12345")
            answer = requests.post(
                f"{gw.url}/open311/v2/requests.json", data={**form, "api_key": key}, timeout=30
            )
            assert answer.status_code == 200, answer.text
        finally:
            stop_gateway(gw)
    first, second = reporter_hashes(isolated, 2)
    assert first == second
    for contact in (email, email.lower()):
        plain = hashlib.sha256(f"{contact}|||".encode()).hexdigest()
        assert first not in (plain, plain[:32])
    secrets_file = home / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert json.loads(secrets_file.read_text())["reporter_secret"]
