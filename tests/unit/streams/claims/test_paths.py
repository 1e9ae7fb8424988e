"""Where claim events go: the intake bridge leaves a valid one to the claims consumer and rejects
an invalid one like any event; the consumer's cheap filter never drops a claim; the Kafka key is
the item's street; the counts per district of the /claims page."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import orjson
import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition

from cityops.schemas.events import parse_event, partition_key
from cityops.schemas.registry import load_registry
from cityops.storage.claim_queries import district_counts
from cityops.streams.claims.service import is_claim
from cityops.streams.clock import Clock
from cityops.streams.incidents.model import Bundle, RejectIn, Tick
from cityops.streams.intake import Bridge, to_item
from tests.integration.test_claims import claim

EXAMPLES = Path(__file__).parents[4] / "schemas" / "examples"
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def example(name: str) -> bytes:
    return (EXAMPLES / "valid" / name).read_bytes()


def intake(value: bytes, headers=None):
    return to_item(
        value, headers, b"k", 1_748_779_200_000, "t/0/1",
        now=NOW, clock=Clock(), registry=load_registry(),
    )  # fmt: skip


@pytest.mark.parametrize("verb", ["item", "take", "progress", "done", "confirm"])
def test_a_valid_claim_is_left_to_the_claims_consumer(verb):
    value = example(f"city.claim.{verb}.v1.json")
    assert intake(value) == ("320102001", None)  # routed by the item's street
    assert is_claim(value, None)
    event = parse_event(value, now=NOW, registry=load_registry())
    assert partition_key(event) == "320102001"


def test_an_invalid_claim_is_rejected_by_the_intake_with_its_reason():
    case = json.loads((EXAMPLES / "invalid" / "claim-by-unregistered-unit.json").read_text())
    _, item = intake(orjson.dumps(case["event"]))
    assert isinstance(item, RejectIn)
    assert f"{item.path}: {item.reason}" == case["error"]


def test_the_filter_reads_binary_mode_headers_and_passes_other_events_by():
    assert is_claim(b"{}", [("ce_type", b"city.claim.take.v1")])
    assert not is_claim(b"city.claim.", [("ce_type", b"city.report.v1")])
    assert not is_claim(example("city.incident.note.v1.json"), None)


def test_counts_per_district():
    items = [
        {"district": "320102", "status": s}
        for s in ("published", "claimed", "in_progress", "done", "confirmed")
    ] + [{"district": "320105", "status": "published"}]
    assert district_counts(items) == {
        "320102": {"published": 5, "claimed": 4, "completed": 2, "confirmed": 1},
        "320105": {"published": 1, "claimed": 0, "completed": 0, "confirmed": 0},
    }


def bridge(claims: str | None) -> Bridge:
    return Bridge(
        bootstrap="unused:9092", source="city.events", bundles="bundles", claims=claims,
        group="g", partitions=4, clock=Clock(), registry=load_registry(), tick_seconds=3600.0,
    )  # fmt: skip


def batch(*values: bytes) -> dict:
    tp = TopicPartition("city.events", 0)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    return {
        tp: [
            ConsumerRecord("city.events", 0, n, now_ms, 0, b"k", v, None, 1, len(v), [])
            for n, v in enumerate(values)
        ]
    }


def fresh(verb: str) -> bytes:
    """A valid claim step stamped now (the bridge validates against the current time)."""
    return orjson.dumps(claim(verb, "320102001001-p1"))


def test_the_bridge_forwards_valid_claims_as_received_to_the_claims_topic():
    take, item = fresh("take"), fresh("item")
    outbox, offsets = bridge("claims").pack(batch(take, b"not json", item))
    records = outbox._records
    forwarded = [r for (topic, _), rs in records.items() if topic == "claims" for r in rs]
    assert [(key, value) for key, value, _ in forwarded] == [(b"k", take), (b"k", item)]
    assert list(offsets.values()) == [3]
    bundles = [r[1] for (topic, _), rs in records.items() if topic == "bundles" for r in rs]
    items = [i for b in bundles for i in msgspec.msgpack.decode(b, type=Bundle).items]
    assert [type(i) for i in items if not isinstance(i, Tick)] == [RejectIn]  # the bad one


def test_a_bridge_without_the_claims_topic_rejects_claims_with_a_reason():
    outbox, _ = bridge(None).pack(batch(fresh("take")))
    bundles = [r[1] for rs in outbox._records.values() for r in rs]
    items = [i for b in bundles for i in msgspec.msgpack.decode(b, type=Bundle).items]
    (reject,) = [i for i in items if isinstance(i, RejectIn)]
    assert "no claims topic" in reject.reason
