"""The validator on the hot path: one CloudEvent from Kafka bytes (structured or binary mode) to a
typed Event, or an InvalidEvent naming the field and what is wrong. Every inbound event passes here
before the incident engine sees it; rejects go to city.events.rejected with the error's text.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import msgspec

from cityops.schemas.annotations import check_annotation
from cityops.schemas.binding import (
    REQUIRED_HEADERS,
    is_binary,
    structured_bytes,
    to_binary,
    to_structured,
)
from cityops.schemas.checks import check_action, check_reading, check_report, quote
from cityops.schemas.claims import check_claim, item_key
from cityops.schemas.event_types import (
    ACTION_TYPES,
    ANNOTATION_TYPE,
    CHANNELS,
    CLAIM_TYPES,
    CONTENT_TYPE,
    EVENT_TYPES,
    MAX_FUTURE_DAYS,
    MAX_ID_CHARS,
    MAX_PAST_DAYS,
    MAX_PAYLOAD_BYTES,
    READING_TYPE,
    REPORT_TYPE,
    SOURCE_PREFIX,
    SPECVERSION,
    Action,
    Annotation,
    Claim,
    Event,
    InvalidEvent,
    Location,
    Reading,
    Report,
    Sensor,
)
from cityops.schemas.registry import Registry, load_registry
from cityops.schemas.taxonomy import DEPARTMENTS

__all__ = [
    "ACTION_TYPES",
    "CHANNELS",
    "EVENT_TYPES",
    "READING_TYPE",
    "REPORT_TYPE",
    "Action",
    "Event",
    "InvalidEvent",
    "Location",
    "Reading",
    "Report",
    "Sensor",
    "decode_data_base64",
    "parse_event",
    "partition_key",
    "to_binary",
    "to_structured",
]


class _Envelope(msgspec.Struct):
    specversion: str
    id: str
    source: str
    type: str
    time: datetime
    data: msgspec.Raw = msgspec.Raw(b"")  # empty: not sent (JSON has no empty value)
    data_base64: str | None = None
    subject: str | None = None
    partitionkey: str | None = None
    datacontenttype: str | None = None
    dataschema: str | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_Data = TypeVar("_Data", Report, Action, Reading, Claim, Annotation)
_REPORT = msgspec.json.Decoder(Report)
_READING = msgspec.json.Decoder(Reading)
_ACTION = msgspec.json.Decoder(Action)
_CLAIM = msgspec.json.Decoder(Claim)
_ANNOTATION = msgspec.json.Decoder(Annotation)
_CLAIMS = frozenset(CLAIM_TYPES)
_ANY = msgspec.json.Decoder()
_TYPES = frozenset(EVENT_TYPES)
_FUTURE = timedelta(days=MAX_FUTURE_DAYS)
_PAST = timedelta(days=MAX_PAST_DAYS)
_UTC = UTC
_TOO_LARGE = f"larger than {MAX_PAYLOAD_BYTES} bytes"
_TOO_DEEP = "JSON nested too deeply"
_MSGSPEC_ERROR = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<where>.*)`)?$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")


def parse_event(
    value: bytes,
    headers: Sequence[tuple[str, bytes]] | None = None,
    *,
    now: datetime,
    registry: Registry | None = None,
) -> Event:
    """Validates one Kafka message; binary mode when the headers carry `ce_specversion`."""
    if registry is None:
        registry = load_registry()
    if headers and is_binary(headers):
        return _parse_binary(value, headers, now, registry)
    if len(value) > MAX_PAYLOAD_BYTES:
        raise InvalidEvent("$", _TOO_LARGE)
    _check_utf8(value, "$")
    try:
        envelope = _ENVELOPE.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _undecodable(value, exc) from None
    except RecursionError:  # nested deeper than the decoder's stack allows
        raise InvalidEvent("$", _TOO_DEEP) from None
    if envelope.data_base64 is not None or not envelope.data:
        return _parse_base64(envelope, now, registry)
    event = _validated(envelope, now, registry)
    event.raw = value if type(value) is bytes else bytes(value)
    return event


def _parse_base64(envelope: _Envelope, now: datetime, registry: Registry) -> Event:
    """A structured event whose data came as `data_base64` (the CloudEvents JSON format for
    bytes, as SDKs send a JSON payload given as bytes): validated as if `data` had been sent,
    and carried on with `data` inline, so everything downstream sees one form."""
    try:
        if envelope.data_base64 is None:
            raise InvalidEvent("data", "required field missing")
        if envelope.data:
            raise InvalidEvent("data_base64", "data and data_base64 must not both be present")
        envelope.data = msgspec.Raw(decode_data_base64(envelope.data_base64))
    except InvalidEvent as exc:
        _tag(exc, envelope.id, envelope.source, envelope.type)
        raise
    envelope.data_base64 = None
    event = _validated(envelope, now, registry)
    event.raw = structured_bytes(
        id=event.id,
        source=event.source,
        type=event.type,
        time=event.time,
        data=bytes(envelope.data),
        subject=event.subject,
        partitionkey=event.partitionkey,
        datacontenttype=event.datacontenttype,
        dataschema=event.dataschema,
    )
    return event


def decode_data_base64(text: str) -> bytes:
    """The JSON document inside a `data_base64` attribute, or an InvalidEvent saying why not."""
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidEvent("data_base64", "not valid base64 (RFC 4648)") from None
    try:
        _check_utf8(decoded, "data_base64")
        _ANY.decode(decoded)
    except InvalidEvent:
        raise InvalidEvent("data_base64", "the decoded data is not valid UTF-8") from None
    except (msgspec.DecodeError, RecursionError):
        raise InvalidEvent(
            "data_base64", "the decoded data is not a JSON document (datacontenttype is JSON)"
        ) from None
    return decoded


def partition_key(event: Event) -> str:
    """The Kafka key: a report's street code (its district code when it has no street); for an
    action its `partitionkey` if given, else its incident id (the engine routes actions)."""
    data = event.data
    if isinstance(data, Report | Reading):
        return data.location.street or data.location.district
    if isinstance(data, Claim):
        return item_key(data.item_id)  # every step of an item on its street's partition
    if isinstance(data, Annotation):
        return data.district or "city"
    return event.partitionkey or data.incident_id


# -- the two modes -----------------------------------------------------------------------------
def _parse_binary(
    value: bytes, headers: Sequence[tuple[str, bytes]], now: datetime, registry: Registry
) -> Event:
    attributes: dict[str, str] = {}
    for key, header_value in headers:
        if header_value is None or not (key.startswith("ce_") or key == "content-type"):
            continue
        try:
            attributes[key] = bytes(header_value).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidEvent(_header_attribute(key), "header is not valid UTF-8") from None
    try:
        if len(value) > MAX_PAYLOAD_BYTES:
            raise InvalidEvent("$", _TOO_LARGE)
        for attribute, header in REQUIRED_HEADERS:
            if header not in attributes:
                raise InvalidEvent(attribute, "required field missing")
        _check_utf8(value, "data")
        try:
            time = msgspec.convert(attributes["ce_time"], datetime)
        except msgspec.ValidationError:
            raise InvalidEvent("time", "not an RFC 3339 timestamp") from None
    except InvalidEvent as exc:
        _tag(exc, attributes.get("ce_id"), attributes.get("ce_source"), attributes.get("ce_type"))
        raise
    envelope = _Envelope(
        specversion=attributes["ce_specversion"],
        id=attributes["ce_id"],
        source=attributes["ce_source"],
        type=attributes["ce_type"],
        time=time,
        data=msgspec.Raw(bytes(value)),
        subject=attributes.get("ce_subject"),
        partitionkey=attributes.get("ce_partitionkey"),
        datacontenttype=attributes.get("content-type"),
        dataschema=attributes.get("ce_dataschema"),
    )
    event = _validated(envelope, now, registry)
    event.raw = structured_bytes(
        id=event.id,
        source=event.source,
        type=event.type,
        time=event.time,
        data=bytes(value),
        subject=event.subject,
        partitionkey=event.partitionkey,
        datacontenttype=event.datacontenttype,
        dataschema=event.dataschema,
    )
    return event


# -- the checks, in the order their errors are reported ----------------------------------------
def _validated(envelope: _Envelope, now: datetime, registry: Registry) -> Event:
    try:
        return _check_envelope(envelope, now, registry)
    except InvalidEvent as exc:
        _tag(exc, envelope.id, envelope.source, envelope.type)
        raise


def _check_envelope(envelope: _Envelope, now: datetime, registry: Registry) -> Event:
    if envelope.specversion != SPECVERSION:
        raise InvalidEvent(
            "specversion", f'must be "{SPECVERSION}", got {quote(envelope.specversion)}'
        )
    if not envelope.id:
        raise InvalidEvent("id", "must not be empty")
    if len(envelope.id) > MAX_ID_CHARS:
        raise InvalidEvent("id", f"longer than {MAX_ID_CHARS} characters")
    source = envelope.source
    if not source.startswith(SOURCE_PREFIX):
        raise InvalidEvent("source", f'must be "{SOURCE_PREFIX}<department code>"')
    department = source[len(SOURCE_PREFIX) :]
    if department not in DEPARTMENTS:
        raise InvalidEvent("source", f"unknown department {quote(department)}")
    event_type = envelope.type
    if event_type not in _TYPES:
        raise InvalidEvent("type", f"unknown event type {quote(event_type)}")
    time = _utc_time(envelope.time, now)
    content_type = envelope.datacontenttype
    if content_type is not None and content_type.split(";", 1)[0].strip() != CONTENT_TYPE:
        raise InvalidEvent("datacontenttype", f'must be "{CONTENT_TYPE}"')
    data: Report | Action | Reading | Claim | Annotation
    if event_type == REPORT_TYPE:
        report = _decode_data(_REPORT, envelope.data)
        check_report(report, envelope.partitionkey, registry)
        data = report
    elif event_type == READING_TYPE:
        reading = _decode_data(_READING, envelope.data)
        check_reading(reading, envelope.partitionkey, registry)
        data = reading
    elif event_type in _CLAIMS:
        claim = _decode_data(_CLAIM, envelope.data)
        check_claim(claim, event_type, department, registry)
        data = claim
    elif event_type == ANNOTATION_TYPE:
        # any department may mark a period for the city or one district (CONTRACT §11)
        data = check_annotation(_decode_data(_ANNOTATION, envelope.data), registry)
    else:
        action = _decode_data(_ACTION, envelope.data)
        check_action(action, event_type, department)
        data = action
    return Event(
        id=envelope.id,
        type=event_type,
        source=source,
        department=department,
        time=time,
        data=data,
        subject=envelope.subject,
        partitionkey=envelope.partitionkey,
        datacontenttype=content_type,
        dataschema=envelope.dataschema,
    )


def _utc_time(time: datetime, now: datetime) -> datetime:
    if time.tzinfo is None:
        raise InvalidEvent("time", "has no time zone offset (RFC 3339 requires one)")
    if time.tzinfo is not _UTC:
        try:
            time = time.astimezone(_UTC)
        except OverflowError:
            raise InvalidEvent("time", "out of range") from None
    if time > now + _FUTURE:
        raise InvalidEvent("time", f"more than {MAX_FUTURE_DAYS} day after the current time")
    if time < now - _PAST:
        raise InvalidEvent("time", f"more than {MAX_PAST_DAYS} days before the current time")
    return time


def _decode_data(decoder: msgspec.json.Decoder[_Data], data: msgspec.Raw) -> _Data:
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise _from_msgspec(exc, "data") from None
    except msgspec.DecodeError:
        raise InvalidEvent("data", "not valid JSON") from None
    except RecursionError:
        raise InvalidEvent("data", _TOO_DEEP) from None


# -- errors ------------------------------------------------------------------------------------
def _check_utf8(value: bytes, path: str) -> None:
    # msgspec skips unknown fields without checking their text; the raw bytes travel on, so the
    # whole payload must be valid UTF-8. isascii() makes the common case nearly free.
    if not value.isascii():
        try:
            bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidEvent(path, "not valid UTF-8") from None


def _undecodable(value: bytes, exc: Exception) -> InvalidEvent:
    """The precise error for a document the typed decoder refused (the slow, rare path)."""
    try:
        document = _ANY.decode(value)
    except (msgspec.DecodeError, RecursionError):
        return InvalidEvent("$", "not valid JSON")
    if not isinstance(document, dict):
        return InvalidEvent("$", f"expected a JSON object, got {_json_kind(document)}")
    error = (
        _from_msgspec(exc, "")
        if isinstance(exc, msgspec.ValidationError)
        else InvalidEvent("$", "not valid JSON")
    )
    _tag(error, document.get("id"), document.get("source"), document.get("type"))
    return error


def _from_msgspec(exc: msgspec.ValidationError, prefix: str) -> InvalidEvent:
    """'Expected `int`, got `str` - at `$.severity`' -> InvalidEvent('data.severity', ...)."""
    match = _MSGSPEC_ERROR.match(str(exc))
    assert match is not None  # the pattern matches any text
    reason, where = match["reason"], match["where"] or ""
    missing = _MISSING.match(reason)
    if missing:
        where = f"{where}.{missing['field']}"
        reason = "required field missing"
    elif reason.startswith("Invalid RFC3339"):
        reason = "not an RFC 3339 timestamp"
    else:
        reason = reason.replace("`", "")
        reason = reason[:1].lower() + reason[1:]
    path = f"{prefix}{where}".lstrip(".") or "$"
    return InvalidEvent(path, reason)


def _tag(exc: InvalidEvent, event_id: object, source: object, event_type: object) -> None:
    """Attaches what could be read of the envelope, so a reject can be stored with it."""
    exc.event_id = event_id if isinstance(event_id, str) else None
    exc.source = source if isinstance(source, str) else None
    exc.type = event_type if isinstance(event_type, str) else None


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _header_attribute(header: str) -> str:
    return "datacontenttype" if header == "content-type" else header.removeprefix("ce_")
