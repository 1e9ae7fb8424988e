"""Where a department's warning period (city.annotation.v1) goes: the intake bridge leaves a valid
one to the claims consumer (keyed by its district, or "city"), forwards it as received, and
rejects an invalid one like any event with its reason; the consumer's filter passes it and makes
one `annotations` row of it, its id qualified by the department."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import msgspec
import orjson
import pytest

from cityops.schemas.events import parse_event, partition_key
from cityops.schemas.registry import load_registry
from cityops.storage.tables import column_names
from cityops.streams.claims.rows import annotation_row
from cityops.streams.claims.service import is_claim
from cityops.streams.incidents.model import Bundle, RejectIn, Tick
from tests.unit.streams.claims.test_paths import EXAMPLES, NOW, batch, bridge, example, intake


def annotation(department: str = "emergency", **data) -> dict:
    now = datetime.now(UTC).replace(microsecond=0)
    body = {
        "start": now.isoformat(),
        "end": (now + timedelta(hours=3)).isoformat(),
        "label": "暴雨蓝色预警",
        "kind": "weather_alert",
        **data,
    }
    return {
        "specversion": "1.0",
        "id": "alert-1",
        "source": f"/departments/{department}",
        "type": "city.annotation.v1",
        "time": now.isoformat(),
        "data": {k: v for k, v in body.items() if v is not None},
    }


@pytest.mark.parametrize(
    ("name", "key"),
    [("city.annotation.v1.json", "city"), ("city.annotation.v1.district.json", "320104")],
)
def test_a_valid_annotation_is_left_to_the_claims_consumer(name, key):
    value = example(name)
    assert intake(value) == (key, None)
    assert is_claim(value, None)
    assert is_claim(b"{}", [("ce_type", b"city.annotation.v1")])
    assert partition_key(parse_event(value, now=NOW, registry=load_registry())) == key


@pytest.mark.parametrize(
    "case",
    ["annotation-end-before-start", "annotation-unknown-district", "annotation-without-label"],
)
def test_an_invalid_annotation_is_rejected_by_the_intake_with_its_reason(case):
    doc = json.loads((EXAMPLES / "invalid" / f"{case}.json").read_text())
    _, item = intake(orjson.dumps(doc["event"]))
    assert isinstance(item, RejectIn)
    assert f"{item.path}: {item.reason}" == doc["error"]


def test_the_bridge_forwards_valid_annotations_and_bundles_the_invalid_as_rejects():
    good = orjson.dumps(annotation(district="320102"))
    bad = orjson.dumps(annotation(kind="flood"))
    outbox, _ = bridge("claims").pack(batch(good, bad))
    records = outbox._records
    forwarded = [r for (topic, _), rs in records.items() if topic == "claims" for r in rs]
    assert [value for _, value, _ in forwarded] == [good]
    bundles = [r[1] for (topic, _), rs in records.items() if topic == "bundles" for r in rs]
    items = [i for b in bundles for i in msgspec.msgpack.decode(b, type=Bundle).items]
    (reject,) = [i for i in items if not isinstance(i, Tick)]
    assert isinstance(reject, RejectIn) and reject.path == "data.kind"
    assert "unknown kind" in reject.reason


def test_the_row_names_the_department_and_keeps_the_tables_columns():
    event = parse_event(example("city.annotation.v1.json"), now=NOW, registry=load_registry())
    received = datetime(2025, 6, 1, 0, 1, tzinfo=UTC)
    row = dict(zip(column_names("annotations"), annotation_row(event, received), strict=True))
    assert row == {
        "id": "emergency/weather-alert-20250601-rainstorm-blue",
        "department": "emergency",
        "actor": "duty-officer-3",
        "kind": "weather_alert",
        "label": "暴雨蓝色预警",
        "district": "",
        "start": datetime(2025, 6, 1, 0, 0),  # 08:00+08:00, naive UTC
        "end": datetime(2025, 6, 1, 12, 0),
        "created_at": datetime(2025, 6, 1, 0, 1),
    }
    district = parse_event(
        example("city.annotation.v1.district.json"), now=NOW, registry=load_registry()
    )
    row = annotation_row(district, received)
    assert row[2] == "urban_mgmt"  # no actor: the department
    assert row[5] == "320104"


def test_the_sdk_keys_an_annotation_by_its_district_and_validates_it():
    from cityops.sdk import complete, validated

    now = datetime.now(UTC)
    for district, key in (("320102", "320102"), (None, "city")):
        event = annotation(district=district)
        del event["source"]
        assert complete(event, "emergency", now=now)["partitionkey"] == key
        assert validated(event, "emergency", now=now).department == "emergency"


def test_the_sdk_builds_an_annotation_a_department_publishes():
    from cityops.sdk import annotation as build
    from cityops.sdk import validated

    now = datetime.now(UTC).replace(microsecond=0)
    event = build(start=now, end=now + timedelta(hours=2), label="马拉松", kind="public_event",
                  district="320104", actor="duty-1")  # fmt: skip
    checked = validated(event, "urban_mgmt", now=now)
    assert checked.type == "city.annotation.v1" and checked.department == "urban_mgmt"
    assert (checked.data.district, checked.data.actor) == ("320104", "duty-1")
    assert checked.partitionkey == "320104"
