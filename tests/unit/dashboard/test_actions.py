"""Officer actions go out through the department SDK: validated exactly like a department's event
(an invalid one is refused with the reason and nothing is sent), keyed by street, and a delivery
failure reaches the officer. A fake producer stands in for the broker (the real one:
tests/e2e/test_drilldown.py)."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from cityops.dashboard.actions import ActionPublisher, InvalidEvent, PublishError, action_event
from tests.unit.cityops.test_sdk import FakeProducer

NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
TOPIC = "t.city.events"


def an_action(action: str = "urge", **overrides) -> dict:
    fields = dict(
        incident_id="320105001-abc",
        partitionkey="320105001",
        department="desk_320105",
        actor="li",
        comment="请尽快处置",
        now=NOW,
    )
    fields.update(overrides)
    return action_event(action, **fields)


def a_publisher(producer: FakeProducer) -> ActionPublisher:
    return ActionPublisher("unused:0", TOPIC, clock=lambda: NOW, producer=producer)


def test_a_valid_action_is_sent_keyed_by_its_street():
    producer = FakeProducer()
    event_id = a_publisher(producer).publish(an_action("escalate"))
    [(topic, key, value, _headers)] = producer.sent
    sent = orjson.loads(value)
    assert (topic, key) == (TOPIC, b"320105001")
    assert sent["id"] == event_id and sent["type"] == "city.incident.escalate.v1"
    assert sent["source"] == "/departments/desk_320105"
    assert sent["data"]["action"] == "escalate" and sent["data"]["actor"] == "li"


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"comment": "长" * 4001}, "data.comment"),  # over the contract's 4,000 characters
        ({"department": "nobody"}, "source"),  # no such department
        ({"incident_id": ""}, "data.incident_id"),
        ({"now": NOW + dt.timedelta(days=2)}, "time"),  # dated after the accepted window
    ],
)
def test_an_invalid_action_is_refused_with_the_field_and_nothing_is_sent(overrides, field):
    producer = FakeProducer()
    with pytest.raises(InvalidEvent) as refused:
        a_publisher(producer).publish(an_action(**overrides))
    assert field in str(refused.value)
    assert producer.sent == []


def test_a_delivery_failure_reaches_the_officer():
    producer = FakeProducer(failures=1)
    with pytest.raises(PublishError, match="broker did not answer"):
        a_publisher(producer).publish(an_action())


def test_no_broker_at_all_is_a_publish_error_not_a_crash():
    publisher = ActionPublisher(
        "127.0.0.1:1", TOPIC, clock=lambda: NOW, bootstrap_timeout_ms=300, max_block_ms=300
    )
    with pytest.raises(PublishError):
        publisher.publish(an_action())
