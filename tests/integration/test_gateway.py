"""The HTTP gateway from a real HTTP client against `cityops gateway` (gunicorn) and the broker:
every status code, the 202's ids in Kafka, keys bound to one department, hostile input."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import requests

from cityops.deploy import services as svc
from cityops.schemas.events import parse_event
from cityops.sdk import complete, report
from cityops.streams.publish.keys import create_key
from tests.integration.test_sdk import read_topic
from tests.waiting import wait_until

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


@dataclass
class Gateway:
    url: str
    log: Path
    proc: subprocess.Popen
    home: Path

    def key(self, department: str) -> str:
        return create_key(self.home, department)[0]

    def post(
        self, key: str | None, body, content_type: str = STRUCTURED, headers=None, **kw
    ) -> requests.Response:
        all_headers = {"Content-Type": content_type, **(headers or {})}
        if key is not None:
            all_headers["Authorization"] = f"Bearer {key}"
        data = body if isinstance(body, bytes | str) else orjson.dumps(body)
        return requests.post(
            f"{self.url}/api/v1/events", data=data, headers=all_headers, timeout=30, **kw
        )


def start_gateway(env: dict, home: Path, log: Path, **settings) -> Gateway:
    """`python -m cityops.deploy.cli gateway` on a free port, waited on until /healthz answers."""
    port = svc.free_port()
    env = {
        **env,
        "CITYOPS_GATEWAY_PORT": str(port),
        **{f"CITYOPS_{k.upper()}": str(v) for k, v in settings.items()},
    }
    out = open(log, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityops.deploy.cli", "gateway"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert proc.poll() is None, log.read_text()
        return requests.get(f"{url}/healthz", timeout=2).ok

    wait_until(
        healthy,
        30,
        f"the gateway to answer on {url}",
        ignoring=(requests.RequestException,),  # not listening yet, or the worker still booting
        details=log.read_text,
    )
    return Gateway(url, log, proc, home)


def stop_gateway(gateway: Gateway) -> None:
    svc.stop(svc.Process("gateway", gateway.proc, gateway.proc.pid, gateway.log))


@pytest.fixture
def gateway(isolated, tmp_path):
    """A gateway for this test's topics, with a small per-key rate limit."""
    gw = start_gateway(
        isolated.env,
        isolated.settings.home,
        tmp_path / "gateway.log",
        gateway_rate=2,
        gateway_burst=30,
        gateway_max_body=200_000,
    )
    yield gw
    stop_gateway(gw)


def an_event(event_id: str, department: str = "water", **overrides) -> dict:
    fields = dict(
        category="waterlogging",
        severity=3,
        title="兴隆街道积水",
        location={"district": "320105", "street": "320105005"},
        channel="sensor",
        id=event_id,
    )
    fields.update(overrides)
    return complete(report(**fields), department, now=datetime.now(UTC))


def ids_in_kafka(isolated, n: int) -> list[str]:
    records = read_topic(
        isolated.settings.bootstrap, isolated.topics.events, until=lambda r: len(r) >= n
    )
    now = datetime.now(UTC)
    return [parse_event(r.value, r.headers, now=now).id for r in records]


def test_202_means_every_accepted_id_is_in_kafka(gateway, isolated):
    key = gateway.key("water")
    single = gateway.post(key, an_event("gw-single"))
    assert single.status_code == 202, single.text
    assert single.json() == {"accepted": ["gw-single"]}
    batch = gateway.post(key, [an_event(f"gw-batch-{n}") for n in range(20)], BATCH)
    assert batch.status_code == 202, batch.text
    event = an_event("gw-binary")
    headers = {f"ce-{k}": v for k, v in event.items() if k not in ("data", "datacontenttype")}
    binary = gateway.post(key, orjson.dumps(event["data"]), "application/json", headers)
    assert binary.status_code == 202, binary.text
    accepted = single.json()["accepted"] + batch.json()["accepted"] + binary.json()["accepted"]
    assert sorted(ids_in_kafka(isolated, 22)) == sorted(accepted)


def test_400_lists_every_invalid_field_and_publishes_none_of_the_batch(gateway, isolated):
    key = gateway.key("water")
    bad = an_event("gw-bad", severity=0)
    bad["data"]["channel"] = "pigeon"
    response = gateway.post(key, [an_event("gw-good"), bad, "not an event"], BATCH)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400 and problem["title"] and problem["type"]
    assert [(e["index"], e["path"]) for e in problem["errors"]] == [
        (1, "data.channel"),
        (1, "data.severity"),
        (2, "$"),
    ]
    assert problem["errors"][0]["pointer"] == "#/data/channel"
    partial = gateway.post(
        key, [an_event("gw-partial-good"), bad], BATCH, params={"partial": "true"}
    )
    assert partial.status_code == 202
    assert partial.json()["accepted"] == ["gw-partial-good"]
    assert [e["index"] for e in partial.json()["rejected"]] == [1, 1]
    assert ids_in_kafka(isolated, 1) == ["gw-partial-good"]


def test_401_without_a_valid_key(gateway):
    assert gateway.post(None, an_event("a")).status_code == 401
    wrong = gateway.post("cok_not-a-key", an_event("a"))
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    basic = requests.post(
        f"{gateway.url}/api/v1/events",
        data=b"{}",
        timeout=10,
        headers={"Authorization": "Basic dXNlcjpwdw==", "Content-Type": STRUCTURED},
    )
    assert basic.status_code == 401


def test_403_a_key_of_one_department_cannot_publish_as_another(gateway, isolated):
    key = gateway.key("water")
    assert gateway.post(key, an_event("as-gas", "gas")).status_code == 403
    mixed = gateway.post(key, [an_event("mine"), an_event("theirs", "gas")], BATCH)
    assert mixed.status_code == 403 and mixed.json()["errors"][0]["index"] == 1
    event = an_event("bin-gas", "gas")
    headers = {f"ce-{k}": v for k, v in event.items() if k not in ("data", "datacontenttype")}
    assert (
        gateway.post(key, orjson.dumps(event["data"]), "application/json", headers).status_code
        == 403
    )
    ok = gateway.post(key, an_event("water-ok"))
    assert ok.status_code == 202
    assert ids_in_kafka(isolated, 1) == ["water-ok"]


def test_413_over_the_size_limit(gateway):
    key = gateway.key("water")
    huge = gateway.post(key, b"[" + b" " * 300_000 + b"]", BATCH)
    assert huge.status_code == 413
    assert huge.headers["Content-Type"] == "application/problem+json"
    too_many = gateway.post(key, [an_event(f"m{n}") for n in range(1001)], BATCH)
    assert too_many.status_code == 413


def test_429_over_the_per_key_rate_limit(gateway):
    key, other = gateway.key("water"), gateway.key("water")
    codes = [gateway.post(key, an_event(f"rate-{n}")).status_code for n in range(40)]
    assert codes[:30] == [202] * 30 and 429 in codes[30:]
    limited = gateway.post(key, an_event("rate-x"))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert gateway.post(other, an_event("other-key")).status_code == 202


def test_hostile_input_gets_clean_answers(gateway, isolated):
    key = gateway.key("water")
    assert gateway.post(key, b"<xml/>", "application/xml").status_code == 415
    assert gateway.post(key, b"a=b", "application/x-www-form-urlencoded").status_code == 415
    assert gateway.post(key, b'{"a": ', STRUCTURED).status_code == 400
    assert gateway.post(key, b"\xff\xfe\x00", STRUCTURED).status_code == 400
    assert gateway.post(key, b"[[[[[[[[[[" * 5000, BATCH).status_code == 400
    assert gateway.post(key, b"[]", BATCH).status_code == 400
    assert gateway.post(key, b"{}", BATCH).status_code == 400
    injection = an_event("x'; DROP TABLE events; --", title="<script>alert(1)</script>' OR 1=1")
    injection["data"]["location"]["address"] = "\u202e\x00'\"); DELETE FROM incidents --"
    accepted = gateway.post(key, injection)
    assert accepted.status_code == 202  # odd text is data, carried verbatim and harmless
    assert ids_in_kafka(isolated, 1) == ["x'; DROP TABLE events; --"]
    odd = requests.get(
        f"{gateway.url}/open311/v2/requests.json",
        timeout=10,
        params={"service_request_id": "1' OR '1'='1", "status": "open"},
    )
    assert odd.status_code == 200 and odd.json() == []
    assert requests.get(f"{gateway.url}/api/v1/events", timeout=10).status_code == 405
    assert requests.get(f"{gateway.url}/nope", timeout=10).status_code == 404


def test_keys_never_reach_the_log(gateway):
    key = gateway.key("water")
    gateway.post(key, an_event("logged"))
    gateway.post(key + "x", an_event("logged-2"))
    requests.post(
        f"{gateway.url}/open311/v2/requests.json",
        timeout=10,
        data={"api_key": key, "service_code": "noise", "address_id": "320104002"},
    )
    requests.get(f"{gateway.url}/open311/v2/services.json?api_key={key}", timeout=10)
    stop_gateway(gateway)
    text = gateway.log.read_text()
    assert "POST /api/v1/events" in text
    assert key not in text and key[4:20] not in text
