"""Open311 GeoReport v2 under /open311/v2/ (JSON format): the category taxonomy as services,
citizen requests in as city.report.v1 events, and their status out of the incident state in
ClickHouse. Errors in Open311's format: [{"code": …, "description": …}]."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from flask import Blueprint, Response, request

from schemas.binding import format_time
from schemas.events import InvalidEvent
from schemas.taxonomy import CATEGORIES, DEPARTMENTS
from streams.publish.gateway import queries
from streams.publish.gateway.app import authenticated, gateway
from streams.publish.gateway.ratelimit import retry_after
from streams.publish.sdk import report

open311_api = Blueprint("open311_api", __name__, url_prefix="/open311/v2")

LOCAL = ZoneInfo("Asia/Shanghai")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
OPEN_STATUSES = ("reported", "dispatched", "accepted", "in_progress", "reopened")
CLOSED_STATUSES = ("resolved", "closed")
STATUS_NOTES = {
    "reported": "Received; being routed to the responsible department.",
    "dispatched": "Dispatched to {agency}.",
    "accepted": "Accepted by {agency}.",
    "in_progress": "{agency} is working on it.",
    "resolved": "Resolved by {agency}; awaiting the citizen's confirmation.",
    "closed": "Closed.",
    "reopened": "Reopened after the citizen's follow-up.",
}
MAX_IDS = 200


def open311_error(code: int, description: str, headers: dict[str, str] | None = None) -> Response:
    response = _json([{"code": code, "description": description}], code)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def _only_json(fmt: str) -> Response | None:
    if fmt != "json":
        return open311_error(400, f"format {fmt[:20]!r} is not supported; use .json")
    return None


# -- services -------------------------------------------------------------------------------------
def _service(category) -> dict[str, Any]:
    zh = request.args.get("locale", "").lower().startswith("zh")
    return {
        "service_code": category.code,
        "service_name": category.name_zh if zh else category.name_en,
        "description": f"{category.name_en} / {category.name_zh}",
        "metadata": True,
        "type": "realtime",
        "keywords": category.kind,
        "group": category.kind,
    }


@open311_api.get("/services.<fmt>")
def services(fmt: str) -> Response:
    return _only_json(fmt) or _json([_service(c) for c in CATEGORIES.values()])


@open311_api.get("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str) -> Response:
    if (bad := _only_json(fmt)) is not None:
        return bad
    category = CATEGORIES.get(code)
    if category is None:
        return open311_error(404, "service_code not found")
    return _json(
        {
            "service_code": category.code,
            "attributes": [
                {
                    "variable": True,
                    "code": "severity",
                    "datatype": "singlevaluelist",
                    "required": False,
                    "datatype_description": "1 minor … 4 extreme",
                    "order": 1,
                    "description": "How serious is it?",
                    "values": [
                        {"key": str(n), "name": name}
                        for n, name in (
                            (1, "minor"),
                            (2, "moderate"),
                            (3, "serious"),
                            (4, "extreme"),
                        )
                    ],
                }
            ],
        }
    )


# -- POST a request ------------------------------------------------------------------------------
@open311_api.post("/requests.<fmt>")
def post_request(fmt: str) -> Response:
    if (bad := _only_json(fmt)) is not None:
        return bad
    if request.mimetype not in FORM_TYPES:
        return open311_error(
            400, "send the request form-encoded (application/x-www-form-urlencoded)"
        )
    form = request.form
    key = authenticated(form.get("api_key") or request.args.get("api_key"))
    if key is None:
        return open311_error(403, "api_key was not provided or is invalid")
    gw = gateway()
    wait = gw.limiter.take(key.key_id)
    if wait:
        return open311_error(
            429, "too many requests for this api_key", headers={"Retry-After": retry_after(wait)}
        )
    code = form.get("service_code", "")
    if not code:
        return open311_error(400, "service_code was not provided")
    category = CATEGORIES.get(code)
    if category is None:
        return open311_error(404, "service_code not found")
    try:
        event = _report_from_form(form, category)
        publisher = gw.publisher()
        parsed = publisher.validate({**event, "source": f"/departments/{key.department}"})
    except _FormError as exc:
        return open311_error(400, str(exc))
    except InvalidEvent as exc:
        return open311_error(400, str(exc))
    try:
        publisher.submit(parsed).wait(gw.settings.gateway_ack_timeout)
    except Exception:  # noqa: BLE001 - any broker failure: nothing is confirmed
        return open311_error(
            503,
            "the service is temporarily unavailable; try again later",
            headers={"Retry-After": "5"},
        )
    return _json(
        [
            {
                "token": parsed.id,
                "service_notice": "Received. The token becomes a service_request_id once "
                "the request is processed: GET tokens/{token}.json",
            }
        ]
    )


class _FormError(ValueError):
    pass


def _report_from_form(form, category) -> dict[str, Any]:
    registry = gateway().registry
    location: dict[str, Any] = {}
    lat, lon = form.get("lat"), form.get("long")
    if lat or lon:
        try:
            lat_f, lon_f = float(lat or ""), float(lon or "")
        except ValueError:
            raise _FormError("lat and long must both be decimal degrees") from None
        district = registry.district_at(lat_f, lon_f)
        if district is None:
            raise _FormError("lat/long is outside the city")
        location.update(district=district, lat=lat_f, lon=lon_f)
    address_id = form.get("address_id")
    if address_id:
        chain = registry.chain(address_id)
        if not chain or chain[-1].level == "city":
            raise _FormError("address_id is not a unit code of the city registry")
        for unit in chain[1:]:
            location[unit.level] = unit.code
    if "district" not in location:
        raise _FormError(
            "lat and long, or address_id (a unit code of the city registry), are required"
        )
    if form.get("address_string"):
        location["address"] = form["address_string"][:500]
    severity = form.get("attribute[severity]") or str(category.default_severity)
    if severity not in ("1", "2", "3", "4"):
        raise _FormError("attribute[severity] must be 1, 2, 3 or 4")
    description = (form.get("description") or "").strip()
    title = (
        description.splitlines()[0][:80] if description else category.name_zh
    ) or category.name_zh
    contact = "|".join(form.get(f, "") for f in ("email", "phone", "device_id", "account_id"))
    event = report(
        category=category.code,
        severity=int(severity),
        title=title,
        location=location,
        channel="app",
        description=description[:4000] or None,
        reporter_hash=hashlib.sha256(contact.encode()).hexdigest()[:32]
        if contact.strip("|")
        else None,
    )
    return event


# -- GET requests --------------------------------------------------------------------------------
@open311_api.get("/requests.<fmt>")
def get_requests(fmt: str) -> Response:
    if (bad := _only_json(fmt)) is not None:
        return bad
    args = request.args
    try:
        ids = _csv(args.get("service_request_id"))
        codes = _csv(args.get("service_code"))
        start = _when(args.get("start_date"), "start_date")
        end = _when(args.get("end_date"), "end_date")
        statuses = _statuses(_csv(args.get("status")))
    except _FormError as exc:
        return open311_error(400, str(exc))
    if len(ids) > MAX_IDS:
        return open311_error(400, f"at most {MAX_IDS} service_request_id values")
    if not ids and start is None and end is None:
        # The spec's default window: the last 90 days.
        start = datetime.fromtimestamp(time.time() - 90 * 86400, UTC).replace(tzinfo=None)
    return _requests_response(ids=ids, categories=codes, start=start, end=end, statuses=statuses)


@open311_api.get("/requests/<request_id>.<fmt>")
def get_request(request_id: str, fmt: str) -> Response:
    if (bad := _only_json(fmt)) is not None:
        return bad
    if len(request_id) > 128:
        return open311_error(404, "service_request_id not found")
    response = _requests_response(ids=(request_id,))
    if response.status_code == 200 and response.get_data() == b"[]":
        # A token (the event id) works here too once the event is processed.
        found = _lookup_token(request_id)
        if isinstance(found, Response):
            return found
        if found[1]:
            return _requests_response(ids=(found[1],))
        return open311_error(404, "service_request_id not found")
    return response


@open311_api.get("/tokens/<token>.<fmt>")
def get_token(token: str, fmt: str) -> Response:
    if (bad := _only_json(fmt)) is not None:
        return bad
    if len(token) > 128:
        return open311_error(404, "token not found")
    found = _lookup_token(token)
    if isinstance(found, Response):
        return found
    seen, incident_id = found
    if incident_id:
        return _json([{"token": token, "service_request_id": incident_id}])
    if seen:
        return _json([{"token": token, "service_request_id": None}])
    # Accepted by the gateway but not stored yet (or never sent): Open311 says "not yet".
    return _json([{"token": token, "service_request_id": None}])


def _lookup_token(token: str):
    gw = gateway()
    try:
        return queries.incident_of_event(gw.clickhouse(), gw.settings.clickhouse.database, token)
    except Exception:  # noqa: BLE001 - ClickHouse down
        _drop_client()
        return open311_error(
            503, "the request store is temporarily unavailable", headers={"Retry-After": "5"}
        )


def _requests_response(**filters) -> Response:
    gw = gateway()
    try:
        rows = queries.service_requests(gw.clickhouse(), gw.settings.clickhouse.database, **filters)
    except Exception:  # noqa: BLE001 - ClickHouse down
        _drop_client()
        return open311_error(
            503, "the request store is temporarily unavailable", headers={"Retry-After": "5"}
        )
    return _json([_service_request(row) for row in rows])


def _drop_client() -> None:
    local = gateway()._local
    client = getattr(local, "client", None)
    if client is not None:
        client.disconnect()
        local.client = None


def _service_request(row: dict[str, Any]) -> dict[str, Any]:
    category = CATEGORIES.get(row["category"])
    lead = DEPARTMENTS.get(row["lead_department"])
    agency = lead.name_en if lead else row["lead_department"]
    status = row["status"]
    return {
        "service_request_id": row["incident_id"],
        "status": "closed" if status in CLOSED_STATUSES else "open",
        "status_notes": STATUS_NOTES.get(status, status).format(agency=agency),
        "service_name": category.name_en if category else row["category"],
        "service_code": row["category"],
        "description": row["title"],
        "agency_responsible": agency,
        "service_notice": None,
        "requested_datetime": _iso(row["reported_at"]),
        "updated_datetime": _iso(row["updated_at"]),
        "expected_datetime": _iso(row["resolve_due"]),
        "address": None,
        "address_id": row["micro_grid"] or row["unit_code"] or row["street"] or row["district"],
        "zipcode": None,
        "lat": row["lat"] or None,
        "long": row["lon"] or None,
        "media_url": None,
    }


def _iso(value: datetime | None) -> str | None:
    if value is None or value.year < 1971:
        return None
    return value.replace(tzinfo=UTC).astimezone(LOCAL).isoformat()


def _csv(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(dict.fromkeys(v.strip()[:128] for v in value.split(",") if v.strip()))


def _when(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _FormError(f"{name} must be an ISO 8601 date-time with a time zone") from None
    if parsed.tzinfo is None:
        raise _FormError(f"{name} must include a time zone (Z or ±HH:MM)")
    return parsed.astimezone(UTC).replace(tzinfo=None)


def _statuses(values: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        if value == "open":
            out.extend(OPEN_STATUSES)
        elif value == "closed":
            out.extend(CLOSED_STATUSES)
        else:
            raise _FormError("status must be open or closed")
    return tuple(out)


__all__ = ["open311_api", "open311_error", "format_time"]
