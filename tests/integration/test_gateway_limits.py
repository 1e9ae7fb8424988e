"""The gateway's limits from an attacker's side, against the real `cityops gateway` and broker:
one key flooding events in big batches, a citizen-app key sending incident actions, a revoked
key, JSON nested deep enough to break the encoder, client text that would split log lines, and
ids that would pass a department's incident off as a citizen's Open311 request."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import orjson
import pytest
import requests

from cityops.sdk import action, complete
from cityops.streams.publish.keys import create_key
from tests.integration.test_gateway import (
    BATCH,
    STRUCTURED,
    an_event,
    ids_in_kafka,
    start_gateway,
    stop_gateway,
)


@pytest.fixture
def gateway(isolated, tmp_path):
    """A budget of 2,000 events per key, refilled at 50 events/s."""
    gw = start_gateway(
        isolated.env,
        isolated.settings.home,
        tmp_path / "gateway.log",
        gateway_rate=50,
        gateway_burst=2000,
    )
    yield gw
    stop_gateway(gw)


def cli(isolated, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cityops.deploy.cli", *args],
        env=isolated.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_rate_limit_counts_events_not_requests(gateway):
    key, other = gateway.key("water"), gateway.key("water")
    answers = []
    for n in range(10):
        batch = [an_event(f"flood-{n}-{i}") for i in range(1000)]
        answers.append(gateway.post(key, batch, BATCH))
    codes = [a.status_code for a in answers]
    assert codes[:2] == [202, 202], [a.text[:200] for a in answers[:2]]
    assert codes[2:] == [429] * 8  # 2,000 events spent; 1,000 more take 20 s at 50/s
    limited = answers[-1]
    assert limited.headers["Content-Type"] == "application/problem+json"
    assert int(limited.headers["Retry-After"]) >= 1
    assert "events/s" in limited.json()["detail"]
    # A refused batch spends nothing beyond its request's token; another key has its own budget.
    assert gateway.post(other, an_event("other-key")).status_code == 202


def test_an_open311_key_cannot_send_incident_actions(gateway, isolated):
    made = cli(isolated, "keys", "create", "hotline12345", "--scope", "open311")
    assert made.returncode == 0, made.stderr
    app_key = made.stdout.strip()
    accept = complete(
        action("accept", "320105005-0123456789abcdef", department="hotline12345"),
        "hotline12345",
        now=datetime.now(UTC),
    )
    denied = gateway.post(app_key, accept)
    assert denied.status_code == 403, denied.text
    assert denied.json()["type"] == "/problems/wrong-scope"
    report = an_event("app-report", "hotline12345", channel="app")
    assert gateway.post(app_key, [report], BATCH).status_code == 403
    # It still does what it is for: Open311 citizen intake.
    posted = requests.post(
        f"{gateway.url}/open311/v2/requests.json",
        data={"api_key": app_key, "service_code": "noise", "address_id": "320104002"},
        timeout=30,
    )
    assert posted.status_code == 200, posted.text
    events_key = gateway.key("hotline12345")
    assert gateway.post(events_key, accept).status_code == 202


def test_a_revoked_key_is_refused(gateway, isolated):
    key, record = create_key(isolated.settings.home, "water")
    assert gateway.post(key, an_event("before-revoke")).status_code == 202
    revoked = cli(isolated, "keys", "revoke", record.key_id)
    assert revoked.returncode == 0, revoked.stderr
    after = gateway.post(key, an_event("after-revoke"))
    assert after.status_code == 401
    form = {"api_key": key, "service_code": "noise", "address_id": "320104002"}
    open311 = requests.post(f"{gateway.url}/open311/v2/requests.json", data=form, timeout=30)
    assert open311.status_code == 403
    assert ids_in_kafka(isolated, 1) == ["before-revoke"]


@pytest.mark.parametrize("depth", [300, 1000])
def test_deeply_nested_json_gets_400_not_500(gateway, depth):
    key = gateway.key("water")
    nested = b"[" * depth + b"]" * depth
    event = orjson.dumps(an_event(f"deep-{depth}")).replace(
        b'"channel"', b'"x":' + nested + b',"channel"', 1
    )
    for body, content_type in (
        (event, STRUCTURED),
        (b"[" + event + b"]", BATCH),
        (nested, BATCH),
        (b'{"a":' + nested + b"}", STRUCTURED),
    ):
        answer = gateway.post(key, body, content_type)
        assert answer.status_code == 400, (content_type, answer.status_code, answer.text[:300])
        assert answer.headers["Content-Type"] == "application/problem+json"
    plain = an_event(f"deep-binary-{depth}")
    headers = {f"ce-{k}": v for k, v in plain.items() if k not in ("data", "datacontenttype")}
    data = orjson.dumps(plain["data"]).replace(b'"channel"', b'"x":' + nested + b',"channel"', 1)
    binary = gateway.post(key, data, "application/json", headers)
    assert binary.status_code == 400, binary.text[:300]
    assert "Traceback" not in gateway.log.read_text()


def test_client_text_never_splits_a_log_line(gateway):
    key = gateway.key("water")
    gateway.post(key, an_event("evil\nINJECTED fake event line"))
    gateway.post(key, b"[" * 600 + b"]" * 600, BATCH)
    requests.get(f"{gateway.url}/open311/v2/requests/x%0AINJECTED%0D%0Afake.json", timeout=10)
    requests.get(f"{gateway.url}/api/v1/%0AINJECTED%1b[31mred", timeout=10)
    stop_gateway(gateway)
    lines = gateway.log.read_text().splitlines()
    assert not [line for line in lines if line.startswith("INJECTED")], lines[-20:]
    assert not [line for line in lines if "\x1b" in line or "\r" in line]
    assert any("\\x0aINJECTED" in line for line in lines), lines[-20:]


def test_an_open311_id_cannot_be_claimed_by_a_department(gateway):
    key = gateway.key("water")
    forged = gateway.post(key, an_event("open311-0123456789abcdef"))
    assert forged.status_code == 403 and forged.json()["type"] == "/problems/reserved-id"
    in_batch = gateway.post(key, [an_event("fine-1"), an_event("open311-x")], BATCH)
    assert in_batch.status_code == 403 and in_batch.json()["errors"][0]["index"] == 1
    event = an_event("open311-binary")
    headers = {f"ce-{k}": v for k, v in event.items() if k not in ("data", "datacontenttype")}
    binary = gateway.post(key, orjson.dumps(event["data"]), "application/json", headers)
    assert binary.status_code == 403


def test_keys_cli_creates_lists_and_revokes(isolated):
    made = cli(isolated, "keys", "create", "water")
    assert made.returncode == 0 and made.stdout.startswith("cok_")
    app = cli(isolated, "keys", "create", "hotline12345", "--scope", "open311")
    assert app.returncode == 0
    listed = cli(isolated, "keys", "list", "--json")
    assert listed.returncode == 0
    keys = orjson.loads(listed.stdout)
    assert [(k["department"], k["scope"], k["revoked_at"]) for k in keys] == [
        ("water", "events", None),
        ("hotline12345", "open311", None),
    ]
    assert made.stdout.strip() not in listed.stdout
    assert cli(isolated, "keys", "revoke", keys[0]["key_id"]).returncode == 0
    again = cli(isolated, "keys", "list")
    assert again.returncode == 0 and "revoked" in again.stdout.splitlines()[0]
    for bad in (
        ("keys", "revoke", keys[0]["key_id"]),  # already revoked
        ("keys", "revoke", "nope"),
        ("keys", "create", "water", "--scope", "admin"),
        ("keys", "create", "atlantis"),
        ("keys", "revoke"),
        ("keys", "delete", "x"),
    ):
        answer = cli(isolated, *bad)
        assert answer.returncode == 2, bad
        assert len(answer.stderr.strip().splitlines()) == 1, answer.stderr
        assert "Traceback" not in answer.stderr and answer.stdout == ""
    assert os.stat(isolated.settings.home / "keys.json").st_mode & 0o077 == 0
