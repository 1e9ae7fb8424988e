"""No input crashes the validator: whatever arrives, the only exception is InvalidEvent."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops.schemas.events import InvalidEvent, parse_event
from tests.unit.schemas.conftest import DELETE, NOW, a_report, changed, encoded

REPORT = a_report()
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "data",
    "partitionkey",
    "datacontenttype",
    "data.channel",
    "data.category",
    "data.severity",
    "data.title",
    "data.location",
    "data.location.district",
    "data.location.street",
    "data.location.grid",
    "data.location.micro_grid",
    "data.location.lat",
    "data.location.lon",
    "data.sensor",
]
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _only_invalid_event(payload: bytes, headers=None) -> None:
    try:
        parse_event(payload, headers, now=NOW)
    except InvalidEvent:
        pass


@PROPERTY
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(payload: bytes) -> None:
    _only_invalid_event(payload)


@PROPERTY
@given(st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=8))
def test_arbitrary_json_objects_never_crash(document: dict) -> None:
    _only_invalid_event(json.dumps(document).encode())


@PROPERTY
@given(st.sampled_from(FIELDS), JSON_VALUES | st.just(DELETE))
def test_a_valid_report_with_one_field_changed_never_crashes(field: str, value) -> None:
    _only_invalid_event(encoded(changed(REPORT, {field: value})))


@PROPERTY
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "ce_specversion",
                    "ce_id",
                    "ce_source",
                    "ce_type",
                    "ce_time",
                    "content-type",
                    "ce_partitionkey",
                ]
            ),
            st.binary(max_size=30),
        ),
        max_size=7,
    ),
    st.binary(max_size=200),
)
def test_arbitrary_binary_mode_messages_never_crash(headers, value: bytes) -> None:
    _only_invalid_event(value, [("ce_specversion", b"1.0"), *headers])
