"""The validator: what it accepts, and the exact error for each kind of bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cityops.schemas.events import (
    ACTION_TYPES,
    Action,
    InvalidEvent,
    Report,
    parse_event,
    partition_key,
    to_structured,
)
from tests.unit.schemas.conftest import (
    COMMUNITY,
    DELETE,
    DISTRICT,
    GRID,
    LAT,
    LON,
    MICRO_GRID,
    NOW,
    STREET,
    a_report,
    an_action,
    changed,
    encoded,
)

REPORT = a_report()
OTHER_STREET = "320106002"  # same district, next street

# (case, payload, exact error)
REJECTED: list[tuple[str, bytes, str]] = [
    # the payload itself
    ("not utf-8", b'{"id": "\xff\xfe"}', "$: not valid UTF-8"),
    ("not json", b'{"specversion": "1.0",', "$: not valid JSON"),
    ("empty payload", b"", "$: not valid JSON"),
    ("json array", b"[1, 2]", "$: expected a JSON object, got array"),
    ("json string", b'"event"', "$: expected a JSON object, got string"),
    ("json null", b"null", "$: expected a JSON object, got null"),
    ("json number", b"42", "$: expected a JSON object, got number"),
    (
        "payload over 64 KB",
        encoded(changed(REPORT, {"data.padding": "x" * 65_600})),
        "$: larger than 65536 bytes",
    ),
    # envelope
    (
        "wrong specversion",
        encoded(changed(REPORT, {"specversion": "0.3"})),
        'specversion: must be "1.0", got "0.3"',
    ),
    (
        "missing specversion",
        encoded(changed(REPORT, {"specversion": DELETE})),
        "specversion: required field missing",
    ),
    ("missing id", encoded(changed(REPORT, {"id": DELETE})), "id: required field missing"),
    ("empty id", encoded(changed(REPORT, {"id": ""})), "id: must not be empty"),
    ("id too long", encoded(changed(REPORT, {"id": "x" * 129})), "id: longer than 128 characters"),
    ("id not a string", encoded(changed(REPORT, {"id": 17})), "id: expected str, got int"),
    (
        "missing source",
        encoded(changed(REPORT, {"source": DELETE})),
        "source: required field missing",
    ),
    (
        "source not a department",
        encoded(changed(REPORT, {"source": "urn:weather"})),
        'source: must be "/departments/<department code>"',
    ),
    (
        "source unknown department",
        encoded(changed(REPORT, {"source": "/departments/weather"})),
        'source: unknown department "weather"',
    ),
    ("missing type", encoded(changed(REPORT, {"type": DELETE})), "type: required field missing"),
    (
        "unknown type",
        encoded(changed(REPORT, {"type": "city.report.v9"})),
        'type: unknown event type "city.report.v9"',
    ),
    ("missing time", encoded(changed(REPORT, {"time": DELETE})), "time: required field missing"),
    (
        "time not rfc 3339",
        encoded(changed(REPORT, {"time": "01/06/2025 10:00"})),
        "time: not an RFC 3339 timestamp",
    ),
    (
        "time without offset",
        encoded(changed(REPORT, {"time": "2025-06-01T10:00:00"})),
        "time: has no time zone offset (RFC 3339 requires one)",
    ),
    (
        "time more than a day ahead",
        encoded(changed(REPORT, {"time": "2025-06-02T12:00:01Z"})),
        "time: more than 1 day after the current time",
    ),
    (
        "time more than 366 days old",
        encoded(changed(REPORT, {"time": "2024-05-30T12:00:00Z"})),
        "time: more than 366 days before the current time",
    ),
    (
        "time out of range",
        encoded(changed(REPORT, {"time": "9999-12-31T23:59:59-23:59"})),
        "time: out of range",
    ),
    (
        "subject not a string",
        encoded(changed(REPORT, {"subject": 5})),
        "subject: expected str | null, got int",
    ),
    (
        "content type not json",
        encoded(changed(REPORT, {"datacontenttype": "text/xml"})),
        'datacontenttype: must be "application/json"',
    ),
    ("missing data", encoded(changed(REPORT, {"data": DELETE})), "data: required field missing"),
    ("data null", encoded(changed(REPORT, {"data": None})), "data: expected object, got null"),
    ("data array", encoded(changed(REPORT, {"data": []})), "data: expected object, got array"),
    # report fields
    (
        "severity as text",
        encoded(changed(REPORT, {"data.severity": "2"})),
        "data.severity: expected int, got str",
    ),
    (
        "severity fractional",
        encoded(changed(REPORT, {"data.severity": 2.5})),
        "data.severity: expected int, got float",
    ),
    (
        "severity zero",
        encoded(changed(REPORT, {"data.severity": 0})),
        "data.severity: must be between 1 and 4",
    ),
    (
        "severity five",
        encoded(changed(REPORT, {"data.severity": 5})),
        "data.severity: must be between 1 and 4",
    ),
    (
        "unknown channel",
        encoded(changed(REPORT, {"data.channel": "fax"})),
        'data.channel: unknown channel "fax"',
    ),
    (
        "unknown category",
        encoded(changed(REPORT, {"data.category": "ufo"})),
        'data.category: unknown category "ufo"',
    ),
    (
        "missing title",
        encoded(changed(REPORT, {"data.title": DELETE})),
        "data.title: required field missing",
    ),
    (
        "blank title",
        encoded(changed(REPORT, {"data.title": "  "})),
        "data.title: must not be empty",
    ),
    (
        "title too long",
        encoded(changed(REPORT, {"data.title": "积" * 201})),
        "data.title: longer than 200 characters",
    ),
    (
        "description too long",
        encoded(changed(REPORT, {"data.description": "x" * 4001})),
        "data.description: longer than 4000 characters",
    ),
    (
        "sensor without value",
        encoded(changed(REPORT, {"data.sensor": {"sensor_id": "s1", "metric": "ch4"}})),
        "data.sensor.value: required field missing",
    ),
    # location
    (
        "missing location",
        encoded(changed(REPORT, {"data.location": DELETE})),
        "data.location: required field missing",
    ),
    (
        "missing district",
        encoded(changed(REPORT, {"data.location.district": DELETE})),
        "data.location.district: required field missing",
    ),
    (
        "unknown district",
        encoded(changed(REPORT, {"data.location.district": "320199"})),
        'data.location.district: unknown district "320199"',
    ),
    (
        "street code as district",
        encoded(changed(REPORT, {"data.location.district": STREET})),
        f'data.location.district: unknown district "{STREET}"',
    ),
    (
        "unknown street",
        encoded(changed(REPORT, {"data.location.street": "320106999"})),
        'data.location.street: unknown street "320106999"',
    ),
    (
        "street in another district",
        encoded(changed(REPORT, {"data.location.district": "320105", "partitionkey": DELETE})),
        f'data.location.street: street "{STREET}" is not in district "320105"',
    ),
    (
        "unknown community",
        encoded(changed(REPORT, {"data.location.community": "320106001999"})),
        'data.location.community: unknown community "320106001999"',
    ),
    (
        "community in another street",
        encoded(changed(REPORT, {"data.location.street": OTHER_STREET, "partitionkey": DELETE})),
        f'data.location.community: community "{COMMUNITY}" is not in street "{OTHER_STREET}"',
    ),
    (
        "grid in another community",
        encoded(changed(REPORT, {"data.location.grid": "32010600100101"})),
        f'data.location.grid: grid "32010600100101" is not in community "{COMMUNITY}"',
    ),
    (
        "unknown grid",
        encoded(changed(REPORT, {"data.location.grid": "32010600100299"})),
        'data.location.grid: unknown grid "32010600100299"',
    ),
    (
        "micro-grid in another grid",
        encoded(changed(REPORT, {"data.location.micro_grid": "3201060010020101"})),
        f'data.location.micro_grid: micro_grid "3201060010020101" is not in grid "{GRID}"',
    ),
    (
        "unknown micro-grid",
        encoded(changed(REPORT, {"data.location.micro_grid": GRID + "99"})),
        f'data.location.micro_grid: unknown micro_grid "{GRID}99"',
    ),
    (
        "lat without lon",
        encoded(changed(REPORT, {"data.location.lon": DELETE})),
        "data.location.lon: required when lat is given",
    ),
    (
        "lon without lat",
        encoded(changed(REPORT, {"data.location.lat": DELETE})),
        "data.location.lat: required when lon is given",
    ),
    (
        "lat as text",
        encoded(changed(REPORT, {"data.location.lat": "32.08"})),
        "data.location.lat: expected float | null, got str",
    ),
    (
        "coordinates in Beijing",
        encoded(changed(REPORT, {"data.location.lat": 39.9042, "data.location.lon": 116.4074})),
        "data.location: coordinates (39.9042, 116.4074) are outside the city",
    ),
    (
        "coordinates in another district",
        encoded(changed(REPORT, {"data.location.lat": 31.35808, "data.location.lon": 118.97229})),
        'data.location: coordinates (31.35808, 118.97229) are in district "320118", not "320106"',
    ),
    (
        "partitionkey not the street",
        encoded(changed(REPORT, {"partitionkey": DISTRICT})),
        f'partitionkey: must be the report\'s street code "{STREET}"',
    ),
    (
        "partitionkey not the district",
        encoded(changed(REPORT, {"data.location": {"district": DISTRICT}, "partitionkey": STREET})),
        f'partitionkey: must be the report\'s district code "{DISTRICT}"',
    ),
    # actions
    (
        "action without incident",
        encoded(changed(an_action(), {"data.incident_id": DELETE})),
        "data.incident_id: required field missing",
    ),
    (
        "action empty incident",
        encoded(changed(an_action(), {"data.incident_id": ""})),
        "data.incident_id: must not be empty",
    ),
    (
        "action unknown department",
        encoded(changed(an_action(), {"data.department": "nasa"})),
        'data.department: unknown department "nasa"',
    ),
    (
        "assist without departments",
        encoded(changed(an_action("assist"), {"data.departments": DELETE})),
        "data.departments: required for city.incident.assist.v1",
    ),
    (
        "assist with no departments",
        encoded(changed(an_action("assist"), {"data.departments": []})),
        "data.departments: must not be empty",
    ),
    (
        "assist unknown department",
        encoded(changed(an_action("assist"), {"data.departments": ["water", "nasa"]})),
        'data.departments[1]: unknown department "nasa"',
    ),
    (
        "feedback without satisfied",
        encoded(changed(an_action("feedback"), {"data.satisfied": DELETE})),
        "data.satisfied: required for city.incident.feedback.v1",
    ),
    (
        "feedback satisfied as text",
        encoded(changed(an_action("feedback"), {"data.satisfied": "yes"})),
        "data.satisfied: expected bool | null, got str",
    ),
]


@pytest.mark.parametrize(
    ("payload", "error"), [(p, e) for _, p, e in REJECTED], ids=[c for c, _, _ in REJECTED]
)
def test_rejected_input_names_field_and_reason(payload: bytes, error: str, registry) -> None:
    with pytest.raises(InvalidEvent) as rejected:
        parse_event(payload, now=NOW, registry=registry)

    assert str(rejected.value) == error
    assert f"{rejected.value.path}: {rejected.value.reason}" == error


def test_at_least_forty_rejected_cases_are_covered() -> None:
    assert len(REJECTED) >= 40


def test_rejection_carries_the_envelope_it_could_read(registry) -> None:
    payload = encoded(changed(REPORT, {"data.category": "ufo"}))

    with pytest.raises(InvalidEvent) as rejected:
        parse_event(payload, now=NOW, registry=registry)

    error = rejected.value
    assert (error.path, error.reason) == ("data.category", 'unknown category "ufo"')
    assert (error.event_id, error.source, error.type) == (
        "grid-320106-0001",
        "/departments/grid_inspect",
        "city.report.v1",
    )


def test_rejection_of_a_type_error_still_carries_the_id(registry) -> None:
    with pytest.raises(InvalidEvent) as rejected:
        parse_event(encoded(changed(REPORT, {"data.severity": "2"})), now=NOW, registry=registry)

    assert rejected.value.event_id == "grid-320106-0001"


def test_report_is_decoded_into_typed_fields(registry) -> None:
    event = parse_event(encoded(REPORT), now=NOW, registry=registry)

    assert isinstance(event.data, Report)
    assert event.department == "grid_inspect"
    assert event.time == datetime(2025, 6, 1, 10, 5, tzinfo=UTC)
    assert event.data.location.micro_grid == MICRO_GRID
    assert (event.data.location.lat, event.data.location.lon) == (LAT, LON)
    assert event.raw == encoded(REPORT)
    assert partition_key(event) == STREET


def test_report_with_only_a_district_is_keyed_by_the_district(registry) -> None:
    document = changed(REPORT, {"data.location": {"district": DISTRICT}, "partitionkey": DELETE})

    event = parse_event(encoded(document), now=NOW, registry=registry)

    assert partition_key(event) == DISTRICT


def test_unknown_fields_are_accepted_for_forward_compatibility(registry) -> None:
    document = changed(
        REPORT, {"traceparent": "00-ab-cd-01", "data.confidence": 0.9, "data.location.floor": 3}
    )

    event = parse_event(encoded(document), now=NOW, registry=registry)

    assert b'"confidence":0.9' in to_structured(event)


@pytest.mark.parametrize("event_type", ACTION_TYPES)
def test_every_action_type_is_accepted(event_type: str, registry) -> None:
    verb = event_type.split(".")[2]

    event = parse_event(encoded(an_action(verb)), now=NOW, registry=registry)

    assert isinstance(event.data, Action)
    assert event.data.incident_id == "inc-0001"
    assert partition_key(event) == "inc-0001"
