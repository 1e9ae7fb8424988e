"""Warning periods departments publish (city.annotation.v1, CONTRACT §11) on the real stack: a
broker, ClickHouse, a worker and the HTTP gateway. The emergency bureau's key publishes a
rainstorm alert and a district's festival: both reach the `annotations` table, named after the
department. From the attacker's side: the water bureau's key publishing as the emergency bureau
is refused (403) and nothing reaches city.events; an invalid period sent straight to Kafka is
stored in rejected_events and published on city.events.rejected with its reason."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaConsumer, TopicPartition

from cityops.deploy import services as svc
from cityops.schemas.topics import Topics
from tests.integration.test_engine import Stack, make_stack
from tests.integration.test_gateway import read_topic, start_gateway, stop_gateway


@pytest.fixture(scope="module")
def stack(request, services, tmp_path_factory):
    home = tmp_path_factory.mktemp("annotations")
    stack = make_stack(request, services.bootstrap, services.clickhouse, home)
    stack.start()
    env = {**os.environ, **svc.worker_env(stack.settings)}
    gateway = start_gateway(env, stack.settings.home, home / "gateway.log")
    stack.gateway = gateway  # type: ignore[attr-defined]
    yield stack
    stop_gateway(gateway)
    stack.stop()
    stack.ch.disconnect()


def annotation(department: str = "emergency", **data) -> dict:
    now = datetime.now(UTC).replace(microsecond=0)
    body = {
        "start": (now - timedelta(minutes=10)).isoformat(),
        "end": (now + timedelta(hours=3)).isoformat(),
        "label": "暴雨蓝色预警",
        "kind": "weather_alert",
        **data,
    }
    return {
        "specversion": "1.0",
        "id": f"a-{uuid.uuid4().hex}",
        "source": f"/departments/{department}",
        "type": "city.annotation.v1",
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "data": body,
    }


def stored(stack: Stack, department: str, event_id: str):
    return stack.wait(
        f"the annotation {event_id} in ClickHouse",
        lambda: stack.q(
            "SELECT department, actor, kind, label, district FROM {db}.annotations "
            "WHERE id = %(id)s",
            {"id": f"{department}/{event_id}"},
        ),
    )


def test_a_department_publishes_warning_periods_through_the_gateway(stack):
    gateway = stack.gateway
    key = gateway.key("emergency")
    alert = annotation(actor="duty-3")
    answer = gateway.post(key, alert)
    assert answer.status_code == 202, answer.text
    assert stored(stack, "emergency", alert["id"]) == [
        ("emergency", "duty-3", "weather_alert", "暴雨蓝色预警", "")
    ]
    festival = annotation("urban_mgmt", label="玄武湖灯会", kind="public_event", district="320102")
    answer = gateway.post(gateway.key("urban_mgmt"), festival)
    assert answer.status_code == 202, answer.text
    assert stored(stack, "urban_mgmt", festival["id"]) == [
        ("urban_mgmt", "urban_mgmt", "public_event", "玄武湖灯会", "320102")
    ]
    # an invalid period is refused at the door with the field and the reason
    bad = annotation(kind="flood")
    refused = gateway.post(key, bad)
    assert refused.status_code == 400, refused.text
    (error,) = refused.json()["errors"]
    assert error["path"] == "data.kind" and "unknown kind" in error["detail"]


def test_another_departments_key_cannot_publish_as_this_department(stack):
    gateway = stack.gateway
    forged = annotation("emergency", label="假预警")
    refused = gateway.post(gateway.key("water"), forged)
    assert refused.status_code == 403, refused.text
    assert refused.json()["errors"][0]["path"] == "source"
    # nothing on Kafka: a marker the same key may send arrives, the forged event never does
    marker = annotation("water", label="水务标注")
    assert gateway.post(gateway.key("water"), marker).status_code == 202
    topic = Topics(stack.settings.topic_prefix).events
    records = read_topic(
        stack.settings.bootstrap,
        topic,
        until=lambda rs: any(marker["id"].encode() in r.value for r in rs),
    )
    assert not any(forged["id"].encode() in (r.value or b"") for r in records)
    stored(stack, "water", marker["id"])
    assert stack.q("SELECT count() FROM {db}.annotations WHERE label = %(l)s", {"l": "假预警"}) == [
        (0,)
    ]


def test_an_invalid_period_sent_to_kafka_is_rejected_with_its_reason(stack):
    bad = annotation(end=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
    stack.send(bad)
    rows = stack.wait(
        "the rejected annotation",
        lambda: stack.q(
            "SELECT reason FROM {db}.rejected_events WHERE event_id = %(id)s", {"id": bad["id"]}
        ),
    )
    assert "must be after data.start" in rows[0][0]
    consumer = KafkaConsumer(bootstrap_servers=stack.settings.bootstrap)
    topic = Topics(stack.settings.topic_prefix).rejected
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)

        def published():
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    headers = dict(record.headers)
                    if headers.get("cityops_event_id") == bad["id"].encode():
                        return headers["cityops_reason"].decode()
            return None

        reason = stack.wait("the reject on city.events.rejected", published)
    finally:
        consumer.close()
    assert "must be after data.start" in reason
    assert stack.q(
        "SELECT count() FROM {db}.annotations WHERE id = %(id)s", {"id": f"emergency/{bad['id']}"}
    ) == [(0,)]
