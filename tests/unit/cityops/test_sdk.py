"""The SDK without a broker: envelope filling, validation before sending, delivery failures."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime

import pytest

from cityops.schemas.events import InvalidEvent, parse_event, to_structured
from cityops.sdk import Publisher, PublishError, action, complete, report

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def add_callback(self, fn):
        if self.error is None:
            fn("metadata")
        return self

    def add_errback(self, fn):
        if self.error is not None:
            fn(self.error)
        return self


class FakeProducer:
    """Records sends; fails the first `failures` of them."""

    def __init__(self, failures: int = 0) -> None:
        self.sent: list[tuple] = []
        self.failures = failures
        self.config = {"delivery_timeout_ms": 1000}

    def send(self, topic, value=None, key=None, headers=None):
        self.sent.append((topic, key, value, headers))
        if self.failures:
            self.failures -= 1
            return FakeFuture(TimeoutError("broker did not answer"))
        return FakeFuture(None)

    def flush(self, timeout=None):
        pass

    def close(self, timeout=None):
        pass


def a_report(**overrides):
    fields = dict(
        category="waterlogging",
        severity=3,
        title="莫愁湖街道积水",
        location={"district": "320105", "street": "320105001"},
        channel="sensor",
    )
    fields.update(overrides)
    return report(**fields)


def publisher(producer=None, department="water", **kw) -> Publisher:
    return Publisher(
        "unused:0", department, producer=producer or FakeProducer(), clock=lambda: NOW, **kw
    )


def test_complete_fills_the_envelope_of_a_report():
    doc = complete(a_report(), "water", now=NOW)
    assert doc["specversion"] == "1.0"
    assert doc["source"] == "/departments/water"
    assert doc["time"] == "2026-11-27T08:00:00Z"
    assert doc["partitionkey"] == "320105001"
    assert doc["datacontenttype"] == "application/json"
    assert len(doc["id"]) == 36


def test_an_action_is_keyed_by_the_street_its_incident_id_starts_with():
    doc = complete(
        action("accept", "320105001-0a1b2c3d4e5f6071", department="water"), "water", now=NOW
    )
    assert doc["partitionkey"] == "320105001"


def test_a_publisher_refuses_another_departments_source_and_sends_nothing():
    producer = FakeProducer()
    with pytest.raises(InvalidEvent) as caught:
        publisher(producer).publish({**a_report(), "source": "/departments/gas"})
    assert caught.value.path == "source"
    assert producer.sent == []


def test_an_invalid_event_names_the_field_and_sends_nothing():
    producer = FakeProducer()
    with pytest.raises(InvalidEvent) as caught:
        publisher(producer).publish(a_report(severity=7))
    assert str(caught.value) == "data.severity: must be between 1 and 4"
    assert producer.sent == []


def test_structured_and_binary_messages_read_back_as_the_same_event():
    structured, binary = FakeProducer(), FakeProducer()
    event = a_report(id="same-id", time="2026-11-27T07:59:00Z")
    publisher(structured).publish(event)
    publisher(binary, binary=True).publish(event)
    (_, key_s, value_s, _), (_, key_b, value_b, headers_b) = structured.sent[0], binary.sent[0]
    assert key_s == key_b == b"320105001"
    one = parse_event(value_s, now=NOW)
    other = parse_event(value_b, headers_b, now=NOW)
    assert to_structured(one) == to_structured(other)
    assert one.id == other.id == "same-id"


def test_a_delivery_failure_raises_with_the_event_id_and_a_retry_reuses_it():
    producer = FakeProducer(failures=1)
    pub = publisher(producer)
    event_id = pub.publish(a_report())
    with pytest.raises(PublishError) as caught:
        pub.flush()
    assert caught.value.event_id == event_id
    retried = pub.publish({**a_report(), "id": caught.value.event_id})
    pub.flush()
    assert retried == event_id
    assert [parse_event(v, now=NOW).id for _, _, v, _ in producer.sent] == [event_id, event_id]


def test_a_delivery_failure_goes_to_the_callback_when_one_is_given():
    seen = []
    pub = publisher(FakeProducer(failures=1), on_error=lambda i, e: seen.append(i))
    event_id = pub.publish(a_report())
    pub.flush()
    assert seen == [event_id]


def test_wait_raises_publish_error():
    pub = publisher(FakeProducer(failures=1))
    delivery = pub.submit(a_report())
    with pytest.raises(PublishError):
        delivery.wait(1)
    pub.close()  # the failure was the caller's to handle, not raised again
    assert isinstance(delivery.future, Future)


def test_feedback_builder_makes_a_valid_event():
    event = publisher(department="hotline12345").validate(
        action("feedback", "320105001-0a1b2c3d4e5f6071", department="hotline12345", satisfied=False)
    )
    assert event.type == "city.incident.feedback.v1"
    assert event.data.satisfied is False


def test_an_unknown_department_is_refused():
    with pytest.raises(ValueError):
        publisher(department="nope")


@pytest.mark.parametrize(
    "error, renewed",
    [("unknown-producer", True), ("init-producer-id", True), ("timeout", False)],
)
def test_a_producer_the_broker_forgot_is_replaced_and_the_retry_goes_through(
    monkeypatch, error, renewed
):
    from kafka.errors import KafkaError, UnknownProducerIdError

    errors = {
        "unknown-producer": UnknownProducerIdError(),
        "init-producer-id": KafkaError("Unexpected error in InitProducerIdResponse: UnknownError"),
        "timeout": TimeoutError("broker did not answer"),
    }
    made: list[FakeProducer] = []

    def make(**config):
        producer = FakeProducer() if made else FakeProducer(failures=1)
        producer.send = _failing_once(producer, errors[error]) if not made else producer.send
        made.append(producer)
        return producer

    monkeypatch.setattr("kafka.KafkaProducer", make)
    seen = []
    pub = Publisher("unused:0", "water", clock=lambda: NOW, on_error=lambda i, e: seen.append(i))
    first = pub.publish(a_report())
    assert seen == [first]
    pub.publish({**a_report(), "id": first})  # the retry, same id
    assert len(made) == (2 if renewed else 1)
    assert [len(p.sent) for p in made] == ([1, 1] if renewed else [2])


def _failing_once(producer, exc):
    def send(topic, value=None, key=None, headers=None):
        producer.sent.append((topic, key, value, headers))
        if len(producer.sent) == 1:
            return FakeFuture(exc)
        return FakeFuture(None)

    return send
