"""CloudEvents Kafka binding: binary mode in, and to_binary/to_structured out."""

from __future__ import annotations

import json

import pytest

from cityops.schemas.events import InvalidEvent, parse_event, to_binary, to_structured
from tests.unit.schemas.conftest import NOW, STREET, a_report, an_action, encoded

REPORT = a_report()


def _binary(document: dict) -> tuple[list[tuple[str, bytes]], bytes]:
    headers = [(f"ce_{k}", str(v).encode()) for k, v in document.items() if k != "data"]
    headers = [("content-type" if k == "ce_datacontenttype" else k, v) for k, v in headers]
    return headers, encoded(document["data"])


BINARY_REJECTED = [
    (
        "missing ce_id",
        lambda h, v: ([x for x in h if x[0] != "ce_id"], v),
        "id: required field missing",
    ),
    (
        "missing ce_time",
        lambda h, v: ([x for x in h if x[0] != "ce_time"], v),
        "time: required field missing",
    ),
    (
        "ce_time not rfc 3339",
        lambda h, v: ([x for x in h if x[0] != "ce_time"] + [("ce_time", b"yesterday")], v),
        "time: not an RFC 3339 timestamp",
    ),
    (
        "ce_source not utf-8",
        lambda h, v: (h + [("ce_source", b"\xff")], v),
        "source: header is not valid UTF-8",
    ),
    ("value not json", lambda h, v: (h, b"{oops"), "data: not valid JSON"),
    ("value not utf-8", lambda h, v: (h, b'{"title": "\xff"}'), "data: not valid UTF-8"),
    (
        "content-type not json",
        lambda h, v: (
            [x for x in h if x[0] != "content-type"] + [("content-type", b"text/plain")],
            v,
        ),
        'datacontenttype: must be "application/json"',
    ),
    ("value over 64 KB", lambda h, v: (h, b" " * 65_537), "$: larger than 65536 bytes"),
]


@pytest.mark.parametrize(
    ("mutate", "error"),
    [(m, e) for _, m, e in BINARY_REJECTED],
    ids=[c for c, _, _ in BINARY_REJECTED],
)
def test_rejected_binary_mode_input(mutate, error: str, registry) -> None:
    headers, value = mutate(*_binary(REPORT))

    with pytest.raises(InvalidEvent) as rejected:
        parse_event(value, headers, now=NOW, registry=registry)

    assert str(rejected.value) == error


def test_binary_mode_gives_the_same_event_as_structured_mode(registry) -> None:
    structured = parse_event(encoded(REPORT), now=NOW, registry=registry)

    headers, value = to_binary(structured)
    from_binary = parse_event(value, headers, now=NOW, registry=registry)
    from_structured = parse_event(to_structured(structured), now=NOW, registry=registry)

    assert from_binary == from_structured
    assert from_binary.raw == to_structured(structured)
    assert dict(headers)["ce_partitionkey"] == STREET.encode()


def test_binary_mode_from_hand_made_headers(registry) -> None:
    headers, value = _binary(REPORT)

    event = parse_event(value, headers, now=NOW, registry=registry)

    assert event.id == REPORT["id"]
    assert json.loads(event.raw)["data"] == REPORT["data"]


def test_structured_round_trip_is_stable(registry) -> None:
    event = parse_event(encoded(an_action("assist")), now=NOW, registry=registry)

    again = parse_event(to_structured(event), now=NOW, registry=registry)

    assert to_structured(again) == to_structured(event)
    assert again.data == event.data
