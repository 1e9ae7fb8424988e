"""city.annotation.v1: checked like every event; a bad one names its field."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from cityops.schemas.annotations import annotation_event, validate_annotation
from cityops.schemas.event_types import InvalidEvent
from cityops.schemas.registry import load_registry

NOW = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
GOOD = {"start": "2026-12-06T08:00:00+00:00", "end": "2026-12-06T22:00:00+08:00",
        "label": " 暴雨蓝色预警 ", "kind": "weather_alert", "district": "320102"}  # fmt: skip


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def _raw(**change) -> bytes:
    data = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    return annotation_event(event_id="a-1", department="emergency", now=NOW, data=data)


def test_a_good_annotation(registry):
    envelope, data = validate_annotation(_raw(), registry)
    assert envelope.type == "city.annotation.v1"
    assert data.label == "暴雨蓝色预警"
    assert data.end - data.start == dt.timedelta(hours=6)
    assert validate_annotation(_raw(district=None), registry)[1].district is None  # whole city


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"end": "2026-12-06T07:00:00+00:00"}, "data.end"),
        ({"end": "2027-02-06T07:00:00+00:00"}, "data.end"),
        ({"start": "2026-12-06T08:00:00"}, "data.start"),
        ({"label": "   "}, "data.label"),
        ({"label": "x" * 201}, "data.label"),
        ({"kind": "party"}, "data.kind"),
        ({"district": "999999"}, "data.district"),
        ({"district": "320102001"}, "data.district"),  # a street is not a district
    ],
)
def test_a_bad_annotation_names_its_field(registry, change, path):
    with pytest.raises(InvalidEvent) as err:
        validate_annotation(_raw(**change), registry)
    assert err.value.path == path


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [("source", "/departments/nobody", "source"), ("type", "city.report.v1", "type"),
     ("specversion", "0.3", "specversion"), ("id", "", "id")],
)  # fmt: skip
def test_a_bad_envelope_names_its_field(registry, field, value, path):
    event = msgspec.json.decode(_raw())
    event[field] = value
    with pytest.raises(InvalidEvent) as err:
        validate_annotation(msgspec.json.encode(event), registry)
    assert err.value.path == path
