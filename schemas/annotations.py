"""`city.annotation.v1` (CONTRACT §7): a warning period (a rainstorm alert, a festival, road
works) that shades the wall's time series. `data`: `start`, `end` (RFC 3339 with an offset),
`label` (1..200 characters, shown as written), `kind` (one of KINDS), `district` (optional: one
district's adcode; absent for the whole city), `actor` (optional: who, within the department).
Envelope rules as for every event (CONTRACT §4). A department publishes one through the gateway or
the SDK like any event (the validator, schemas/events.py, calls `check_annotation`); the dashboard's
form builds one and checks it here (`validate_annotation`).
"""

from __future__ import annotations

import datetime as dt

import msgspec

from cityops.schemas.checks import quote
from cityops.schemas.event_types import (
    ANNOTATION_TYPE,
    MAX_ID_CHARS,
    MAX_REF_CHARS,
    MAX_TITLE_CHARS,
    SOURCE_PREFIX,
    SPECVERSION,
    Annotation,
    InvalidEvent,
)
from cityops.schemas.registry import Registry
from cityops.schemas.taxonomy import DEPARTMENTS

KINDS = {
    "weather_alert": ("气象预警", "weather alert"),
    "public_event": ("大型活动", "public event"),
    "works": ("施工", "works"),
    "emergency": ("应急响应", "emergency response"),
    "other": ("其他", "other"),
}
MAX_SPAN = dt.timedelta(days=31)


AnnotationData = Annotation  # the data's struct (schemas/event_types.py)


class AnnotationEnvelope(msgspec.Struct, omit_defaults=True):
    specversion: str
    id: str
    source: str
    type: str
    time: dt.datetime
    data: AnnotationData
    partitionkey: str | None = None


def _aware(path: str, value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise InvalidEvent(path, "has no time zone offset (RFC 3339 requires one)")
    return value.astimezone(dt.UTC)


def check_annotation(data: AnnotationData, registry: Registry) -> AnnotationData:
    """The data's rules; returns it with UTC times. Raises InvalidEvent naming the field."""
    start, end = _aware("data.start", data.start), _aware("data.end", data.end)
    if end <= start:
        raise InvalidEvent("data.end", "must be after data.start")
    if end - start > MAX_SPAN:
        raise InvalidEvent("data.end", f"at most {MAX_SPAN.days} days after data.start")
    label = data.label.strip()
    if not label:
        raise InvalidEvent("data.label", "must not be empty")
    if len(label) > MAX_TITLE_CHARS:
        raise InvalidEvent("data.label", f"longer than {MAX_TITLE_CHARS} characters")
    if data.kind not in KINDS:
        raise InvalidEvent(
            "data.kind", f"unknown kind {quote(data.kind)}; one of {', '.join(KINDS)}"
        )
    if data.district is not None:
        unit = registry.unit(data.district)
        if unit is None or unit.level != "district":
            raise InvalidEvent("data.district", f"unknown district {quote(data.district)}")
    if data.actor is not None and len(data.actor) > MAX_REF_CHARS:
        raise InvalidEvent("data.actor", f"longer than {MAX_REF_CHARS} characters")
    return AnnotationData(
        start=start, end=end, label=label, kind=data.kind, district=data.district, actor=data.actor
    )


def validate_annotation(
    raw: bytes, registry: Registry
) -> tuple[AnnotationEnvelope, AnnotationData]:
    """A `city.annotation.v1` CloudEvent (JSON bytes) checked like every event: the envelope
    (specversion, id, source of a known department, type) and the data."""
    try:
        envelope = msgspec.json.decode(raw, type=AnnotationEnvelope)
    except msgspec.ValidationError as exc:
        raise InvalidEvent("$", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidEvent("$", f"not JSON: {exc}") from None
    if envelope.specversion != SPECVERSION:
        raise InvalidEvent("specversion", f'must be "{SPECVERSION}"')
    if not envelope.id or len(envelope.id) > MAX_ID_CHARS:
        raise InvalidEvent("id", f"must be 1..{MAX_ID_CHARS} characters")
    department = envelope.source.removeprefix(SOURCE_PREFIX)
    if not envelope.source.startswith(SOURCE_PREFIX) or department not in DEPARTMENTS:
        raise InvalidEvent("source", f"unknown department {quote(envelope.source)}")
    if envelope.type != ANNOTATION_TYPE:
        raise InvalidEvent("type", f'must be "{ANNOTATION_TYPE}"')
    _aware("time", envelope.time)
    return envelope, check_annotation(envelope.data, registry)


def annotation_event(
    *, event_id: str, department: str, now: dt.datetime, data: dict[str, str]
) -> bytes:
    """The CloudEvent of an annotation (the dashboard's form builds one, then validates it)."""
    envelope = {
        "specversion": SPECVERSION,
        "id": event_id,
        "source": f"{SOURCE_PREFIX}{department}",
        "type": ANNOTATION_TYPE,
        "time": now.astimezone(dt.UTC).isoformat(),
        "datacontenttype": "application/json",
        "partitionkey": data.get("district") or "city",
        "data": data,
    }
    return msgspec.json.encode(envelope)
