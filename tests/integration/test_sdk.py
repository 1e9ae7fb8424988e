"""The SDK against the real broker: what is published reads back, in both content modes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cityops.deploy import services as svc
from cityops.schemas.events import InvalidEvent, parse_event, to_structured
from cityops.sdk import Publisher, PublishError, action, report
from cityops.topics_admin import create_topics
from tests.waiting import wait_until


def read_topic(bootstrap: str, topic: str, *, until, timeout: float = 20.0) -> list:
    """Every record of `topic` from the beginning (assign + poll), until `until(records)` holds."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        records: list = []

        def polled() -> bool:  # the poll's own 300 ms wait is the interval
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
            return until(records)

        wait_until(polled, timeout, f"the records awaited on {topic}", interval=0,
                   details=lambda: f"have {len(records)} records")  # fmt: skip
        return records
    finally:
        consumer.close()


def a_report(**overrides):
    fields = dict(
        category="waterlogging",
        severity=3,
        title="沙洲街道积水",
        location={"district": "320105", "street": "320105002"},
        channel="sensor",
    )
    fields.update(overrides)
    return report(**fields)


def test_structured_and_binary_events_read_back_identically(isolated):
    topic = isolated.topics.events
    event = a_report(id="sdk-same-1", time=datetime.now(UTC))
    with Publisher(isolated.settings, "water") as structured:
        structured.publish(event)
    with Publisher(isolated.settings, "water", binary=True) as binary:
        binary.publish({**event, "id": "sdk-same-2"})
    records = read_topic(isolated.settings.bootstrap, topic, until=lambda r: len(r) >= 2)
    now = datetime.now(UTC)
    by_id = {}
    for record in records:
        parsed = parse_event(record.value, record.headers, now=now)
        by_id[parsed.id] = (record, parsed)
    (s_record, s_event), (b_record, b_event) = by_id["sdk-same-1"], by_id["sdk-same-2"]
    assert s_record.key == b_record.key == b"320105002"
    assert not s_record.headers and dict(b_record.headers)["ce_id"] == b"sdk-same-2"
    assert to_structured(s_event).replace(b"sdk-same-1", b"X") == to_structured(b_event).replace(
        b"sdk-same-2", b"X"
    )


def test_an_invalid_event_is_refused_and_nothing_is_sent(isolated):
    with Publisher(isolated.settings, "water") as publisher:
        with pytest.raises(InvalidEvent) as caught:
            publisher.publish(a_report(location={"district": "999999"}))
        assert caught.value.path == "data.location.district"
        publisher.publish(a_report(id="sdk-valid-after"), wait=True)
    records = read_topic(
        isolated.settings.bootstrap, isolated.topics.events, until=lambda r: len(r) >= 1
    )
    assert [parse_event(r.value, now=datetime.now(UTC)).id for r in records] == ["sdk-valid-after"]


def test_a_retry_after_a_failed_delivery_keeps_the_id(isolated, tmp_path):
    port = svc.free_port()
    broker = svc.start_broker(tmp_path, port)
    bootstrap = f"127.0.0.1:{port}"
    topic = isolated.topics.events
    try:
        create_topics(bootstrap, [topic], 2)
        publisher = Publisher(
            bootstrap,
            "water",
            topic=topic,
            request_timeout_ms=1000,
            delivery_timeout_ms=2500,
            max_block_ms=2000,
            linger_ms=0,
        )
        publisher.publish(a_report(id="warm-up"), wait=True)
        svc.stop(broker)
        with pytest.raises(PublishError) as caught:
            publisher.publish(a_report(id="retry-me"), wait=True)
        assert caught.value.event_id == "retry-me"
        publisher.close(timeout=1)
    finally:
        svc.stop(broker)
    # The department retries with the id from the error, against the platform's broker.
    with Publisher(isolated.settings, "water") as again:
        again.publish(a_report(id=caught.value.event_id), wait=True)
    records = read_topic(isolated.settings.bootstrap, topic, until=lambda r: len(r) >= 1)
    assert parse_event(records[0].value, now=datetime.now(UTC)).id == "retry-me"


def test_actions_land_on_the_partition_of_their_street(isolated):
    incident = "320105002-0011223344556677"
    with Publisher(isolated.settings, "water") as publisher:
        publisher.publish(a_report(id="opening"))
        publisher.publish(action("accept", incident, department="water", id="accepting"))
    records = read_topic(
        isolated.settings.bootstrap, isolated.topics.events, until=lambda r: len(r) >= 2
    )
    assert {r.key for r in records} == {b"320105002"}
    assert len({r.partition for r in records}) == 1
