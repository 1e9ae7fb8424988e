"""`POST /api/v1/events`: the CloudEvents HTTP binding (structured, batch and binary mode).

Order of checks: key (401) → the key's scope (403) → one token of the key's rate for the
request (429) → content type (415) → size (413) → JSON, at most MAX_DEPTH deep (400) → one more
token per further event (429) → every event's source against the key's department, and no id
with the Open311 intake's prefix (403) → validation of every event (400, all errors of all
items) → publish and wait for the broker (202 or 503)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Blueprint, Response, request

from cityops.schemas.event_types import ACTION_TYPES, SOURCE_PREFIX
from cityops.schemas.events import Event, InvalidEvent, parse_event
from cityops.sdk import PublishError
from cityops.streams.incidents.authz import sender_refusal
from cityops.streams.publish.gateway.app import authenticated, gateway
from cityops.streams.publish.gateway.open311 import OPEN311_ID_PREFIX
from cityops.streams.publish.gateway.problems import (
    all_errors,
    error_entry,
    problem,
    too_deep,
    with_inline_data,
)
from cityops.streams.publish.gateway.ratelimit import retry_after

events_api = Blueprint("events_api", __name__)

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
MAX_BATCH = 1000
MAX_DEPTH = 64  # JSON nesting; orjson itself parses 1,024 levels but encodes only 255
RETRY_AFTER_BROKER = "5"


@events_api.post("/api/v1/events")
def post_events() -> Response:
    key = authenticated(_bearer(request.headers.get("Authorization")))
    if key is None:
        return problem(
            401,
            "Unauthorized",
            "a valid API key is required: "
            "`Authorization: Bearer <key>` (see `cityops keys create`)",
            headers={"WWW-Authenticate": 'Bearer realm="cityops"'},
        )
    if key.scope != "events":
        return problem(
            403,
            "Forbidden",
            f"this key's scope is {key.scope}: it may only post Open311 requests",
            slug="wrong-scope",
        )
    if (limited := _charge(key.key_id, 1)) is not None:
        return limited
    mimetype = request.mimetype
    binary = "ce-specversion" in request.headers
    if mimetype not in (STRUCTURED, BATCH) and not (binary and mimetype == "application/json"):
        return problem(
            415,
            "Unsupported Media Type",
            f"send {STRUCTURED}, {BATCH}, or application/json with ce- headers (binary mode)",
            slug="content-type",
        )
    body = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: 413 from the error handler
    now = datetime.now(UTC)
    expected = f"{SOURCE_PREFIX}{key.department}"
    if binary and mimetype not in (STRUCTURED, BATCH):
        return _binary(body, expected, now)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return problem(
            400, "Bad Request", f"the body is not valid JSON ({exc.msg})", slug="invalid-json"
        )
    if too_deep(document, MAX_DEPTH):
        return _deep()
    if mimetype == BATCH:
        if not isinstance(document, list):
            return problem(
                400,
                "Bad Request",
                "a batch must be a JSON array of CloudEvents",
                slug="invalid-batch",
            )
        if not document:
            return problem(400, "Bad Request", "the batch is empty", slug="invalid-batch")
        if len(document) > MAX_BATCH:
            return problem(413, "Content Too Large", f"more than {MAX_BATCH} events in a batch")
        items = document
    else:
        if not isinstance(document, dict):
            return problem(
                400,
                "Bad Request",
                "a structured CloudEvent must be a JSON object",
                slug="invalid-event",
            )
        items = [document]
    if len(items) > 1 and (limited := _charge(key.key_id, len(items) - 1)) is not None:
        return limited
    foreign = _foreign_sources(items, expected)
    reserved = _reserved_ids(items)
    if reserved:
        return _reserved(reserved)
    if foreign:
        return problem(
            403,
            "Forbidden",
            f"this key may publish only as {expected}",
            slug="wrong-source",
            errors=foreign,
        )
    # An action (city.incident.*) is done in data.department's name: the key's own (CONTRACT §8)
    actors = _foreign_actors(items, key.department)
    if actors:
        return _wrong_department(key.department, actors)
    events, errors = _validate(items, body if mimetype == STRUCTURED else None, now)
    partial = request.args.get("partial", "").lower() in ("1", "true", "yes")
    if errors and (not partial or not events):
        return problem(
            400, "Bad Request", _count(errors, len(items)), slug="invalid-event", errors=errors
        )
    return _publish(events, rejected=errors)


def _charge(key_id: str, events: int) -> Response | None:
    """One token per event: None when paid, else the 429 (or 413 when a batch is larger than
    the key's whole burst, so waiting would never help)."""
    gw = gateway()
    wait = gw.limiter.take(key_id, events)
    if not wait:
        return None
    rate, burst = gw.settings.gateway_rate, gw.settings.gateway_burst
    if events > burst:
        return problem(
            413,
            "Content Too Large",
            f"{events + 1} events in one request is more than this key's burst of {burst}",
        )
    return problem(
        429,
        "Too Many Requests",
        f"more than {rate:g} events/s for this key (burst {burst}); retry after Retry-After",
        headers={"Retry-After": retry_after(wait)},
    )


def _deep() -> Response:
    return problem(
        400,
        "Bad Request",
        f"the JSON is nested more than {MAX_DEPTH} levels deep",
        slug="invalid-json",
    )


def _binary_too_deep(body: bytes) -> bool:
    try:
        return too_deep(orjson.loads(body), MAX_DEPTH)
    except orjson.JSONDecodeError:
        return False  # the validator names what is wrong with it


def _binary(body: bytes, expected: str, now: datetime) -> Response:
    headers = [("content-type", request.headers.get("Content-Type", "").encode())]
    for name, value in request.headers.items():
        lower = name.lower()
        if lower.startswith("ce-"):
            headers.append(("ce_" + lower[3:], value.encode("latin-1")))
    source = request.headers.get("ce-source")
    if request.headers.get("ce-id", "").startswith(OPEN311_ID_PREFIX):
        return _reserved([{"path": "id", "pointer": "#/id", "detail": _RESERVED}])
    if _binary_too_deep(body):
        return _deep()
    if source is not None and source != expected:
        return problem(
            403,
            "Forbidden",
            f"this key may publish only as {expected}",
            slug="wrong-source",
            errors=[
                {"path": "source", "pointer": "#/source", "detail": f"{source!r} is not {expected}"}
            ],
        )
    try:
        event = parse_event(body, headers, now=now, registry=gateway().registry)
    except InvalidEvent as exc:
        department = expected[len(SOURCE_PREFIX) :]
        item = {"type": request.headers.get("ce-type"), "data": _json_or_none(body)}
        actors = _foreign_actors([item], department)
        if actors:  # the validator refuses it too; the key decides the answer: 403
            return _wrong_department(department, actors)
        errors = [error_entry(exc, event_id=request.headers.get("ce-id"))]
        return problem(400, "Bad Request", "1 invalid event", slug="invalid-event", errors=errors)
    return _publish([event], rejected=[])


def _foreign_sources(items: list[Any], expected: str) -> list[dict]:
    foreign = []
    for index, item in enumerate(items):
        source = item.get("source") if isinstance(item, dict) else None
        if isinstance(source, str) and source != expected:
            foreign.append(
                {
                    "index": index,
                    "path": "source",
                    "pointer": "#/source",
                    "detail": f"{source[:80]!r} is not {expected}",
                }
            )
    return foreign


_RESERVED = f"ids starting with {OPEN311_ID_PREFIX!r} are the Open311 intake's"


def _reserved_ids(items: list[Any]) -> list[dict]:
    """Ids only the Open311 intake gives (they make an incident public)."""
    return [
        {"index": index, "path": "id", "pointer": "#/id", "detail": _RESERVED}
        for index, item in enumerate(items)
        if isinstance(item, dict)
        and isinstance(item.get("id"), str)
        and item["id"].startswith(OPEN311_ID_PREFIX)
    ]


def _reserved(errors: list[dict]) -> Response:
    return problem(403, "Forbidden", _RESERVED, slug="reserved-id", errors=errors)


def _validate(items: list[Any], raw: bytes | None, now: datetime) -> tuple[list[Event], list]:
    registry = gateway().registry
    events: list[Event] = []
    errors: list[dict] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(
                {"index": index, "path": "$", "pointer": "#", "detail": "expected a JSON object"}
            )
            continue
        try:
            value = raw if raw is not None else orjson.dumps(item)
            event = parse_event(value, now=now, registry=registry)
        except InvalidEvent:
            for exc in all_errors(item, now=now, registry=registry):
                errors.append(error_entry(exc, index, item.get("id")))
            continue
        if event.id in seen:
            errors.append(
                {
                    "index": index,
                    "id": event.id,
                    "path": "id",
                    "pointer": "#/id",
                    "detail": "the same id appears twice in this batch",
                }
            )
            continue
        seen.add(event.id)
        events.append(event)
    return events, errors


def _publish(events: list[Event], *, rejected: list[dict]) -> Response:
    gw = gateway()
    deadline = time.monotonic() + gw.settings.gateway_ack_timeout
    try:
        deliveries = [gw.publisher().submit(event) for event in events]
        for delivery in deliveries:
            delivery.wait(max(0.01, deadline - time.monotonic()))
    except (PublishError, TimeoutError, Exception) as exc:  # noqa: BLE001 - any broker failure
        gateway_log_unavailable(exc)
        return problem(
            503,
            "Service Unavailable",
            "the event broker did not acknowledge the events, so none of them is confirmed; "
            "retry later with the same ids (a retry is idempotent)",
            slug="broker-unavailable",
            headers={"Retry-After": RETRY_AFTER_BROKER},
        )
    body: dict[str, Any] = {"accepted": [event.id for event in events]}
    if rejected:
        body["rejected"] = rejected
    return Response(orjson.dumps(body), status=202, mimetype="application/json")


def gateway_log_unavailable(exc: BaseException) -> None:
    from cityops.streams.publish.gateway.app import log

    log.warning("broker unavailable: %s", type(exc).__name__)


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _count(errors: list[dict], total: int) -> str:
    bad = len({e.get("index", 0) for e in errors})
    return (
        f"{bad} of {total} events invalid; nothing was published"
        if total > 1
        else "the event is invalid; nothing was published"
    )


def _foreign_actors(items: list[Any], department: str) -> list[dict]:
    """Actions (city.incident.*) whose data.department is not the key's department: a
    department acts only in its own name (CONTRACT §8)."""
    foreign = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or item.get("type") not in ACTION_TYPES:
            continue
        data = with_inline_data(item).get("data")
        claimed = data.get("department") if isinstance(data, dict) else None
        if not isinstance(claimed, str):
            continue  # missing or not text: the validation answers 400
        refusal = sender_refusal(department, claimed[:80])
        if refusal:
            foreign.append(
                {
                    "index": index,
                    "path": "data.department",
                    "pointer": "#/data/department",
                    "detail": refusal,
                }
            )
    return foreign


def _wrong_department(department: str, errors: list[dict]) -> Response:
    return problem(
        403,
        "Forbidden",
        f"this key may act only in the name of {department}",
        slug="wrong-department",
        errors=errors,
    )


def _json_or_none(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
