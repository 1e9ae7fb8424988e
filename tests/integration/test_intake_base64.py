"""Structured CloudEvents with `data_base64` (what CloudEvents SDKs write for a JSON payload given
as bytes), against a real gateway, broker, worker and ClickHouse: accepted and stored as if
`data` had been sent; bad base64 or a payload that is not JSON lands in city.events.rejected
with a reason naming data_base64; a department cannot hide another's name in the base64."""

from __future__ import annotations

import asyncio
import base64
import uuid

import orjson

from cityops.bench.events import publish_all
from cityops.deploy import services as svc
from tests.integration.test_gateway import an_event
from tests.integration.test_gateway_open311 import gateway, worker  # noqa: F401 - fixtures
from tests.waiting import wait_until


def in_base64(event: dict) -> dict:
    encoded = dict(event)
    encoded["data_base64"] = base64.b64encode(orjson.dumps(encoded.pop("data"))).decode()
    return encoded


def rows(isolated, sql: str, params: dict) -> list:
    return isolated.ch.execute(sql.replace("{db}", isolated.database), params)


def test_a_base64_report_posted_to_the_gateway_is_stored_like_any_other(
    gateway,  # noqa: F811
    worker,  # noqa: F811
    isolated,
):
    key = gateway.key("water")
    event = in_base64(an_event(f"b64-{uuid.uuid4().hex}"))
    posted = gateway.post(key, event)
    assert posted.status_code == 202, posted.text
    assert posted.json() == {"accepted": [event["id"]]}
    stored = wait_until(
        lambda: rows(
            isolated,
            "SELECT category, severity, district, payload FROM {db}.events WHERE id = %(id)s",
            {"id": event["id"]},
        ),
        60,
        "the base64 report in the events table",
        interval=0.25,
        details=lambda: svc.log_tail(worker, 30),
    )
    category, severity, district, payload = stored[0]
    assert (category, severity, district) == ("waterlogging", 3, "320105")
    assert orjson.loads(payload)["data"]["title"] == "兴隆街道积水"


def test_bad_base64_straight_on_kafka_is_rejected_with_its_reason(
    worker,  # noqa: F811
    isolated,
):
    cases = {
        "data_base64: not valid base64 (RFC 4648)": "%%%not base64%%%",
        "data_base64: the decoded data is not a JSON document (datacontenttype is JSON)": (
            base64.b64encode(b"channel=hotline&severity=2").decode()
        ),
    }
    sent = {}
    for reason, value in cases.items():
        event = an_event(f"b64-bad-{uuid.uuid4().hex}")
        event.pop("data")
        event["data_base64"] = value
        sent[event["id"]] = reason
        pairs = [(b"320105005", orjson.dumps(event))]
        asyncio.run(publish_all(isolated.settings.bootstrap, isolated.topics.events, pairs))

    def rejected():
        found = rows(
            isolated,
            "SELECT event_id, concat(path, ': ', reason) FROM {db}.rejected_events "
            "WHERE event_id IN %(ids)s",
            {"ids": tuple(sent)},
        )
        return dict(found) if len(found) >= len(sent) else None

    got = wait_until(
        rejected, 60, "both rejects stored", interval=0.25, details=lambda: svc.log_tail(worker, 30)
    )
    assert got == sent


def test_gateway_names_every_base64_problem_and_publishes_nothing(gateway):  # noqa: F811
    key = gateway.key("water")
    good = in_base64(an_event(f"b64-{uuid.uuid4().hex}"))
    bad = an_event(f"b64-{uuid.uuid4().hex}")
    bad.pop("data")
    bad["data_base64"] = "not//base64!"
    invalid_inside = in_base64(an_event(f"b64-{uuid.uuid4().hex}", severity=9))
    answer = gateway.post(key, [good, bad, invalid_inside], "application/cloudevents-batch+json")
    assert answer.status_code == 400, answer.text
    errors = [(e["index"], e["path"]) for e in answer.json()["errors"]]
    assert errors == [(1, "data_base64"), (2, "data.severity")]


def test_another_departments_name_in_base64_is_refused_as_in_data(gateway):  # noqa: F811
    """The attacker, the gas company, acts in the traffic police's name and hides data.department
    in data_base64: the key decides the answer (403), as it does for plain data."""
    key = gateway.key("gas")
    action = {
        "specversion": "1.0",
        "id": f"forged-{uuid.uuid4().hex}",
        "source": "/departments/gas",
        "type": "city.incident.accept.v1",
        "time": an_event("x")["time"],
        "data": {"incident_id": "inc-1", "department": "traffic_police"},
    }
    plain = gateway.post(key, action)
    hidden = gateway.post(key, in_base64(action))
    assert plain.status_code == 403, plain.text
    assert hidden.status_code == 403, hidden.text
    assert hidden.json()["type"] == plain.json()["type"] == "/problems/wrong-department"
