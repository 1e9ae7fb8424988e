"""Resident-unit claims end to end (docs/claims.md): a real broker, ClickHouse and worker process.
A community publishes an item, a registered unit claims it, reports progress and completion, the
community confirms: each step stored in `claims` and `claim_transitions`. Then the attacks, from
the attacker's side on Kafka: an unregistered unit claiming, a unit speaking through another
department, a unit acting on an item another unit claimed, another community confirming. Each is
refused with its reason (rejected_events and city.events.rejected) and the item is unchanged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from kafka import KafkaConsumer, TopicPartition

from cityops.schemas.topics import Topics
from tests.integration.test_engine import Stack, make_stack

COMMUNITY = "320102001001"  # 玄武区
OTHER_COMMUNITY = "320102001002"
UNIT = "ru-320102-01"  # a Xuanwu agency, publishes through `housing`
OTHER_UNIT = "ru-320102-03"  # a Xuanwu hospital, publishes through `health`
UNIT_DEPARTMENTS = {UNIT: "housing", OTHER_UNIT: "health", "ru-999999-01": "housing"}


@pytest.fixture(scope="module")
def engine(request, services, tmp_path_factory):
    stack = make_stack(
        request, services.bootstrap, services.clickhouse, tmp_path_factory.mktemp("claims")
    )
    stack.start()
    yield stack
    stack.stop()
    stack.ch.disconnect()


def claim(verb: str, item_id: str, source: str | None = None, **data) -> dict:
    if verb in ("item", "confirm"):
        data.setdefault("community", COMMUNITY)
        sender = source or "grid_inspect"
    else:
        data.setdefault("unit_id", UNIT)
        sender = source or UNIT_DEPARTMENTS[data["unit_id"]]
    if verb == "item":
        data |= {"category": "parking", "title": "小区停车难"}
    return {
        "specversion": "1.0",
        "id": f"c-{uuid.uuid4().hex}",
        "source": f"/departments/{sender}",
        "type": f"city.claim.{verb}.v1",
        "time": datetime.now(UTC).isoformat(),
        "partitionkey": item_id[:9],
        "datacontenttype": "application/json",
        "data": {"item_id": item_id, **data},
    }


def new_item(stack: Stack) -> str:
    item_id = f"{COMMUNITY}-t{uuid.uuid4().hex[:8]}"
    stack.send(claim("item", item_id))
    wait_status(stack, item_id, "published")
    return item_id


def state(stack: Stack, item_id: str):
    rows = stack.q(
        "SELECT argMax(status, version), argMax(unit_id, version), argMax(percent, version) "
        "FROM {db}.claims WHERE item_id = %(i)s GROUP BY item_id",
        {"i": item_id},
    )
    return rows[0] if rows else None


def wait_status(stack: Stack, item_id: str, status: str):
    return stack.wait(
        f"item {item_id} to be {status}",
        lambda: (s := state(stack, item_id)) and s[0] == status and s,
    )


def rejection_of(stack: Stack, event: dict) -> str:
    rows = stack.wait(
        f"a rejected_events row for {event['type']} {event['id']}",
        lambda: stack.q(
            "SELECT reason FROM {db}.rejected_events WHERE event_id = %(id)s",
            {"id": event["id"]},
        ),
    )
    return rows[0][0]


def test_claim_progress_done_confirm_stored_with_history(engine):
    item_id = new_item(engine)
    engine.send(claim("take", item_id))
    assert wait_status(engine, item_id, "claimed")[1] == UNIT
    engine.send(claim("progress", item_id, percent=60, comment="已开放 40 个车位"))
    assert wait_status(engine, item_id, "in_progress")[2] == 60
    engine.send(claim("done", item_id))
    wait_status(engine, item_id, "done")
    back = claim("confirm", item_id, accepted=False, comment="夜间仍有占道")
    engine.send(back)
    wait_status(engine, item_id, "in_progress")
    engine.send(claim("done", item_id), claim("confirm", item_id, accepted=True))
    wait_status(engine, item_id, "confirmed")
    # a redelivered step (same id) is applied once
    engine.send(back)
    history = engine.wait(
        "the history of seven steps",
        lambda: (
            (
                rows := engine.q(
                    "SELECT DISTINCT seq, verb, to_status, actor FROM {db}.claim_transitions "
                    "WHERE item_id = %(i)s ORDER BY seq",
                    {"i": item_id},
                )
            )
            and len(rows) >= 7
            and rows
        ),
    )
    assert [(verb, to) for _, verb, to, _ in history] == [
        ("item", "published"),
        ("take", "claimed"),
        ("progress", "in_progress"),
        ("done", "done"),
        ("confirm", "in_progress"),
        ("done", "done"),
        ("confirm", "confirmed"),
    ]
    assert history[1][3] == UNIT and history[6][3] == COMMUNITY
    assert wait_status(engine, item_id, "confirmed")


def test_an_unregistered_unit_cannot_claim(engine):
    item_id = new_item(engine)
    attack = claim("take", item_id, unit_id="ru-999999-01")
    engine.send(attack)
    assert "is not a registered resident unit" in rejection_of(engine, attack)
    # a unit's id sent through another department's publisher is not that unit
    forged = claim("take", item_id, source="water")
    engine.send(forged)
    assert 'publishes through "housing", not "water"' in rejection_of(engine, forged)
    assert state(engine, item_id)[0] == "published"


def test_a_unit_cannot_act_on_an_item_another_unit_claimed(engine):
    item_id = new_item(engine)
    engine.send(claim("take", item_id))
    wait_status(engine, item_id, "claimed")
    steal = claim("take", item_id, unit_id=OTHER_UNIT)
    progress = claim("progress", item_id, unit_id=OTHER_UNIT, percent=90)
    done = claim("done", item_id, unit_id=OTHER_UNIT)
    engine.send(steal, progress, done)
    assert "not allowed while item" in rejection_of(engine, steal)
    assert "only the claiming unit" in rejection_of(engine, progress)
    assert "only the claiming unit" in rejection_of(engine, done)
    assert state(engine, item_id) == ("claimed", UNIT, 0)


def test_another_community_cannot_confirm(engine):
    item_id = new_item(engine)
    engine.send(claim("take", item_id), claim("done", item_id))
    wait_status(engine, item_id, "done")
    attack = claim("confirm", item_id, community=OTHER_COMMUNITY, accepted=True)
    engine.send(attack)
    assert f"belongs to community {COMMUNITY}" in rejection_of(engine, attack)
    # and the refusal is published on city.events.rejected with its reason
    consumer = KafkaConsumer(bootstrap_servers=engine.settings.bootstrap)
    topic = Topics(engine.settings.topic_prefix).rejected
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)

        def published():
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    headers = dict(record.headers)
                    if headers.get("cityops_event_id") == attack["id"].encode():
                        return headers["cityops_reason"].decode()
            return None

        reason = engine.wait("the refused confirm on city.events.rejected", published)
    finally:
        consumer.close()
    assert "only it confirms" in reason
    assert state(engine, item_id)[0] == "done"


def test_a_simulator_round_through_the_bus_ends_in_the_planned_states(engine):
    """The simulator's claims play (a round compressed: sent as fast as the bus takes it) goes
    through the intake bridge and the claims consumer without a refusal: per district one item
    confirmed, one in progress, one waiting for a unit."""
    from cityops.schemas.registry import load_registry
    from cityops.streams.publish.simulator.claims import ROUND_SECONDS, ClaimsPlay

    play = ClaimsPlay(4242, load_registry())
    events = [e for t in range(int(ROUND_SECONDS)) for e in play.due(t, datetime.now(UTC))]
    engine.send(*events)
    items = sorted({e["data"]["item_id"] for e in events})

    def settled():
        rows = engine.q(
            "SELECT argMax(district, version) AS d, argMax(status, version) AS s, "
            "count() FROM {db}.claims WHERE item_id IN %(ids)s GROUP BY item_id",
            {"ids": tuple(items)},
        )
        done = sum(1 for _, s, _ in rows if s == "confirmed")
        return len(rows) == len(items) == 33 and done == 11 and rows

    rows = engine.wait("the simulated round stored", settled)
    by_district: dict[str, list[str]] = {}
    for district, status, _ in rows:
        by_district.setdefault(district, []).append(status)
    assert len(by_district) == 11
    for statuses in by_district.values():
        assert sorted(statuses) == ["confirmed", "in_progress", "published"]
    refused = engine.q("SELECT count() FROM {db}.rejected_events WHERE event_id LIKE 'claim:%%'")[
        0
    ][0]
    assert refused == 0
