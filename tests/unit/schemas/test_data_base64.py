"""Structured CloudEvents whose data comes as `data_base64` (what CloudEvents SDKs write for a
payload given as bytes) are validated as if `data` had been sent; bad base64 or a payload that
is not JSON is refused with a reason naming data_base64."""

from __future__ import annotations

import base64

import msgspec
import pytest

from cityops.schemas.events import InvalidEvent, parse_event
from tests.unit.schemas.conftest import DELETE, NOW, a_report, an_action, changed, encoded


def as_base64(document: dict) -> dict:
    """The same event with its data as base64 of the JSON bytes, like the SDKs send."""
    data = msgspec.json.encode(document["data"])
    return changed(document, {"data": DELETE, "data_base64": base64.b64encode(data).decode()})


@pytest.mark.parametrize("document", [a_report(), an_action("assist"), an_action("feedback")])
def test_data_base64_reads_as_if_data_had_been_sent(registry, document) -> None:
    inline = parse_event(encoded(document), now=NOW, registry=registry)
    event = parse_event(encoded(as_base64(document)), now=NOW, registry=registry)
    assert event.data == inline.data
    assert (event.id, event.type, event.source, event.time) == (
        inline.id,
        inline.type,
        inline.source,
        inline.time,
    )
    # carried on with data inline: the raw bytes read back as a plain structured event
    stored = msgspec.json.decode(event.raw)
    assert "data_base64" not in stored
    assert stored["data"] == document["data"]
    assert parse_event(event.raw, now=NOW, registry=registry).data == inline.data


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


REFUSED = [
    ("not base64", "%%% not base64 %%%", "data_base64: not valid base64 (RFC 4648)"),
    ("base64 with junk", _b64(b"{}") + "!", "data_base64: not valid base64 (RFC 4648)"),
    (
        "not JSON",
        _b64(b"severity=2&title=x"),
        "data_base64: the decoded data is not a JSON document (datacontenttype is JSON)",
    ),
    ("not UTF-8", _b64(b'{"title": "\xff"}'), "data_base64: the decoded data is not valid UTF-8"),
    ("not a string", 12, "data_base64: expected str | null, got int"),
    (
        "valid JSON, invalid report",
        _b64(b'{"channel": "hotline"}'),
        "data.category: required field missing",
    ),
]


@pytest.mark.parametrize(("name", "value", "reason"), REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_data_base64_is_refused_with_a_reason(registry, name, value, reason) -> None:
    document = changed(a_report(), {"data": DELETE, "data_base64": value})
    with pytest.raises(InvalidEvent) as caught:
        parse_event(encoded(document), now=NOW, registry=registry)
    assert str(caught.value) == reason
    assert caught.value.event_id == "grid-320106-0001"  # the reject is stored with its id


def test_data_and_data_base64_together_are_refused(registry) -> None:
    document = changed(a_report(), {"data_base64": _b64(b"{}")})
    with pytest.raises(InvalidEvent, match="^data_base64: data and data_base64 must not both"):
        parse_event(encoded(document), now=NOW, registry=registry)


def test_neither_data_nor_data_base64_is_a_missing_data(registry) -> None:
    document = changed(a_report(), {"data": DELETE})
    with pytest.raises(InvalidEvent, match="^data: required field missing$"):
        parse_event(encoded(document), now=NOW, registry=registry)
