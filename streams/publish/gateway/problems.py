"""RFC 9457 problem details for the CloudEvents endpoint, and the full list of what is wrong with
an event: the validator stops at the first error, so the event is repaired with a harmless value
at that path and validated again, until it passes or an error cannot be repaired."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from flask import Response

from cityops.schemas.binding import format_time
from cityops.schemas.events import InvalidEvent, decode_data_base64, parse_event
from cityops.schemas.registry import Registry

PROBLEM_TYPE = "application/problem+json"
MAX_ERRORS_PER_EVENT = 20


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {
        "type": f"/problems/{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    response = Response(orjson.dumps(body), status=status, mimetype=PROBLEM_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def too_deep(document: Any, limit: int) -> bool:
    """Whether arrays/objects nest more than `limit` levels (the top level is 1). Iterative, so
    no recursion limit; stops at the first branch that is too deep."""
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def error_entry(exc: InvalidEvent, index: int | None = None, event_id: Any = None) -> dict:
    entry: dict[str, Any] = {}
    if index is not None:
        entry["index"] = index
    if isinstance(event_id, str):
        entry["id"] = event_id
    entry.update(path=exc.path, pointer=_pointer(exc.path), detail=exc.reason)
    return entry


def _pointer(path: str) -> str:
    """ "data.departments[1]" -> "#/data/departments/1" (RFC 6901 inside a URI fragment)."""
    if path == "$":
        return "#"
    parts = path.replace("[", ".").replace("]", "").split(".")
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts if p)


def with_inline_data(item: Any) -> Any:
    """A structured event whose `data_base64` holds JSON, with that JSON as `data` (how the
    validator reads it); any other item as it is."""
    if not isinstance(item, dict) or "data" in item or not isinstance(item.get("data_base64"), str):
        return item
    try:
        data = orjson.loads(decode_data_base64(item["data_base64"]))
    except (InvalidEvent, orjson.JSONDecodeError):
        return item
    if too_deep(data, 64):
        return item  # the validator names it
    inline = {k: v for k, v in item.items() if k != "data_base64"}
    inline["data"] = data
    return inline


# -- every error of one structured event ---------------------------------------------------------
_DELETE = object()
_STOP = object()


def _repairs(now: datetime) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "placeholder",
        "time": format_time(now),
        "datacontenttype": _DELETE,
        "dataschema": _DELETE,
        "subject": _DELETE,
        "partitionkey": _DELETE,
        "data.channel": "hotline",
        "data.category": "consultation",
        "data.severity": 1,
        "data.title": "placeholder",
        "data.description": _DELETE,
        "data.external_ref": _DELETE,
        "data.reporter_hash": _DELETE,
        "data.sensor": _DELETE,
        "data.media_url": _DELETE,
        "data.location": {"district": "320102"},
        "data.location.district": {"district": "320102"},
        "data.location.street": _DELETE,
        "data.location.community": _DELETE,
        "data.location.grid": _DELETE,
        "data.location.micro_grid": _DELETE,
        "data.location.address": _DELETE,
        "data.location.lat": _DELETE,
        "data.location.lon": _DELETE,
        "data.incident_id": "placeholder",
        "data.department": "hotline12345",
        "data.actor": _DELETE,
        "data.comment": _DELETE,
        "data.departments": ["hotline12345"],
        "data.satisfied": True,
    }


def all_errors(document: dict, *, now: datetime, registry: Registry) -> list[InvalidEvent]:
    """Every error the validator finds in `document`, first one first; [] when it is valid."""
    errors: list[InvalidEvent] = []
    repairs = _repairs(now)
    doc = orjson.loads(orjson.dumps(with_inline_data(document)))
    seen: set[str] = set()
    for _ in range(MAX_ERRORS_PER_EVENT):
        try:
            parse_event(orjson.dumps(doc), now=now, registry=registry)
            return errors
        except InvalidEvent as exc:
            errors.append(exc)
            path = _repair_path(exc.path)
            if path in seen or not _repair(doc, path, repairs.get(path, _STOP)):
                return errors
            seen.add(path)
    return errors


def _repair_path(path: str) -> str:
    path = path.split("[", 1)[0]
    if path.startswith("data.sensor."):
        return "data.sensor"
    if path == "data.location" or path.startswith("data.location.") and path.count(".") > 2:
        return "data.location"
    return path


def _repair(doc: dict, path: str, value: Any) -> bool:
    if value is _STOP:
        return False
    *parents, last = path.split(".")
    node: Any = doc
    for name in parents:
        node = node.get(name) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return False
    if value is _DELETE:
        if last in ("lat", "lon") and parents == ["data", "location"]:
            node.pop("lat", None)
            node.pop("lon", None)
        else:
            node.pop(last, None)
    elif path == "data.location.district":
        doc["data"]["location"] = dict(value)
    else:
        node[last] = value
    return True
