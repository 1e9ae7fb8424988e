"""CloudEvents Kafka protocol binding as pure functions: an Event to structured JSON bytes, or to
`ce_` headers plus a data value (binary mode), usable with any Kafka client. The validator
(schemas/events.py) reads both modes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from cityops.schemas.event_types import CONTENT_TYPE, SPECVERSION, Event

_encode = msgspec.json.encode
# Optional envelope attributes as (attribute, Kafka header).
OPTIONAL_HEADERS = (
    ("subject", "ce_subject"),
    ("partitionkey", "ce_partitionkey"),
    ("dataschema", "ce_dataschema"),
)
REQUIRED_HEADERS = (
    ("id", "ce_id"),
    ("source", "ce_source"),
    ("type", "ce_type"),
    ("time", "ce_time"),
)


def format_time(time: datetime) -> str:
    """RFC 3339 as msgspec writes it ("Z" for UTC)."""
    return _encode(time).decode()[1:-1]


def structured_bytes(
    *,
    id: str,  # noqa: A002 - CloudEvents attribute names
    source: str,
    type: str,  # noqa: A002
    time: datetime,
    data: bytes,
    subject: str | None = None,
    partitionkey: str | None = None,
    datacontenttype: str | None = None,
    dataschema: str | None = None,
) -> bytes:
    """The canonical structured encoding: fixed attribute order, `data` embedded as given."""
    doc: dict[str, object] = {
        "specversion": SPECVERSION,
        "id": id,
        "source": source,
        "type": type,
        "time": time,
    }
    for name, value in (
        ("subject", subject),
        ("partitionkey", partitionkey),
        ("datacontenttype", datacontenttype),
        ("dataschema", dataschema),
    ):
        if value is not None:
            doc[name] = value
    doc["data"] = msgspec.Raw(data)
    return _encode(doc)


def data_bytes(event: Event) -> bytes:
    """The event's data as compact JSON, keeping fields this version does not know."""
    if event.raw:
        return _encode(msgspec.json.decode(event.raw)["data"])
    return _encode(event.data)


def to_structured(event: Event) -> bytes:
    return structured_bytes(
        id=event.id,
        source=event.source,
        type=event.type,
        time=event.time,
        data=data_bytes(event),
        subject=event.subject,
        partitionkey=event.partitionkey,
        datacontenttype=event.datacontenttype,
        dataschema=event.dataschema,
    )


def to_binary(event: Event) -> tuple[list[tuple[str, bytes]], bytes]:
    """(headers, value) for binary mode; the Kafka message key is partition_key(event)."""
    headers = [
        ("ce_specversion", SPECVERSION.encode()),
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
        ("ce_time", format_time(event.time).encode()),
    ]
    for attribute, header in OPTIONAL_HEADERS:
        value = getattr(event, attribute)
        if value is not None:
            headers.append((header, value.encode()))
    if event.datacontenttype is not None:
        headers.append(("content-type", event.datacontenttype.encode()))
    return headers, data_bytes(event)


def is_binary(headers: Sequence[tuple[str, bytes]] | None) -> bool:
    return bool(headers) and any(key == "ce_specversion" for key, _ in headers or ())


__all__ = ["CONTENT_TYPE", "to_binary", "to_structured", "structured_bytes", "is_binary"]
