"""Open311 reads: `GET requests.json`, `requests/{id}.json` and `tokens/{token}.json`, out of the
incident state in ClickHouse (storage/service_requests.py).

Two views (docs/publishing.md):
- public — no key, or an `open311`-scoped key: only incidents opened by an Open311 request, no
  micro-grid or internal unit code (the street is the finest address), coordinates rounded to
  3 decimals (about 100 m), at most PUBLIC_LIMIT results; tokens only of Open311 requests.
  Without a key, each client address has its own token bucket (gateway_public_rate/_burst).
- full — an `events`-scoped (department) key: every incident with exact coordinates and unit,
  at most FULL_LIMIT results, rate-limited per key.
Every read is bounded: a window of at most MAX_WINDOW, a LIMIT, and a server-time cap."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, request

from cityops.schemas.taxonomy import CATEGORIES, DEPARTMENTS
from cityops.storage import service_requests as queries
from cityops.storage.measures import OPEN_EXCLUDED
from cityops.streams.publish.gateway.app import clean, gateway, log
from cityops.streams.publish.gateway.open311 import (
    OPEN311_ID_PREFIX,
    _known_format,
    open311_api,
    open311_error,
)
from cityops.streams.publish.gateway.open311_xml import answer
from cityops.streams.publish.gateway.ratelimit import retry_after

LOCAL = ZoneInfo("Asia/Shanghai")
OPEN_STATUSES = ("reported", "dispatched", "accepted", "in_progress", "reopened")
CLOSED_STATUSES = OPEN_EXCLUDED  # Open311 "closed": resolved or closed (storage/measures.py)
STATUS_NOTES = {
    "reported": "Received; being routed to the responsible department.",
    "dispatched": "Dispatched to {agency}.",
    "accepted": "Accepted by {agency}.",
    "in_progress": "{agency} is working on it.",
    "resolved": "Resolved by {agency}; awaiting the citizen's confirmation.",
    "closed": "Closed.",
    "callback_overdue": "Resolved by {agency}; the follow-up call is overdue.",
    "reopened": "Reopened after the citizen's follow-up.",
}
MAX_IDS = 200
MAX_WINDOW = timedelta(days=90)
PUBLIC_LIMIT = 100
FULL_LIMIT = 1000
PUBLIC_DECIMALS = 3  # 0.001° ≈ 111 m of latitude, ≈ 95 m of longitude at 32° N


@dataclass(frozen=True)
class Reader:
    full: bool  # a department key: every incident, exact location

    @property
    def limit(self) -> int:
        return FULL_LIMIT if self.full else PUBLIC_LIMIT

    @property
    def opened_by_prefix(self) -> str | None:
        return None if self.full else OPEN311_ID_PREFIX


def _reader() -> Reader | Response:
    """Who reads, after the rate limit: a key (api_key parameter or a Bearer header) is
    charged per key, an anonymous client per address. An invalid key is refused (403)."""
    gw = gateway()
    given = request.args.get("api_key") or _bearer(request.headers.get("Authorization"))
    if given:
        key = gw.keys.lookup(given)
        if key is None:
            return open311_error(403, "api_key is invalid")
        wait = gw.limiter.take(key.key_id)
        reader = Reader(full=key.scope == "events")
    else:
        wait = gw.public_limiter.take(request.remote_addr or "-")
        reader = Reader(full=False)
    if wait:
        return open311_error(
            429, "too many requests; slow down", headers={"Retry-After": retry_after(wait)}
        )
    return reader


def _bearer(header: str | None) -> str | None:
    scheme, _, token = (header or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class _QueryError(ValueError):
    pass


@open311_api.get("/requests.<fmt>")
def get_requests(fmt: str) -> Response:
    if (bad := _known_format(fmt)) is not None:
        return bad
    reader = _reader()
    if isinstance(reader, Response):
        return reader
    args = request.args
    try:
        ids = _csv(args.get("service_request_id"))
        codes = _csv(args.get("service_code"))
        start = _when(args.get("start_date"), "start_date")
        end = _when(args.get("end_date"), "end_date")
        statuses = _statuses(_csv(args.get("status")))
        if len(ids) > MAX_IDS:
            raise _QueryError(f"at most {MAX_IDS} service_request_id values")
        if not ids:
            start, end = window(start, end, _utcnow())
    except _QueryError as exc:
        return open311_error(400, str(exc))
    found = _requests(reader, ids=ids, categories=codes, start=start, end=end, statuses=statuses)
    return found if isinstance(found, Response) else answer(found, fmt, "service_requests")


def window(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime | None]:
    """The reported_at window of a list read: the last 90 days by default (Open311's default),
    never longer than MAX_WINDOW."""
    if start is None:
        start = (end or now) - MAX_WINDOW
    if end is not None and end < start:
        raise _QueryError("end_date is before start_date")
    if (end or now) - start > MAX_WINDOW:
        raise _QueryError(f"start_date to end_date spans more than {MAX_WINDOW.days} days")
    return start, end


def _utcnow() -> datetime:
    return datetime.fromtimestamp(time.time(), UTC).replace(tzinfo=None)


@open311_api.get("/requests/<request_id>.<fmt>")
def get_request(request_id: str, fmt: str) -> Response:
    if (bad := _known_format(fmt)) is not None:
        return bad
    reader = _reader()
    if isinstance(reader, Response):
        return reader
    if len(request_id) > 128:
        return open311_error(404, "service_request_id not found")
    found = _requests(reader, ids=(request_id,))
    if found == []:
        # A token (the event id) works here too once the event is processed.
        token = _lookup_token(reader, request_id)
        if isinstance(token, Response):
            return token
        if token[1]:
            found = _requests(reader, ids=(token[1],))
        if found == []:
            return open311_error(404, "service_request_id not found")
    return found if isinstance(found, Response) else answer(found, fmt, "service_requests")


@open311_api.get("/tokens/<token>.<fmt>")
def get_token(token: str, fmt: str) -> Response:
    if (bad := _known_format(fmt)) is not None:
        return bad
    reader = _reader()
    if isinstance(reader, Response):
        return reader
    if len(token) > 128:
        return open311_error(404, "token not found")
    found = _lookup_token(reader, token)
    if isinstance(found, Response):
        return found
    # Accepted by the gateway but not stored yet (or never sent): Open311 says "not yet".
    return answer([{"token": token, "service_request_id": found[1]}], fmt, "service_requests")


def _lookup_token(reader: Reader, token: str):
    if not reader.full and not token.startswith(OPEN311_ID_PREFIX):
        return False, None  # only Open311 requests' tokens are public
    gw = gateway()
    try:
        return queries.incident_of_event(gw.clickhouse(), gw.settings.clickhouse.database, token)
    except Exception:  # noqa: BLE001 - ClickHouse down or the read too slow
        _drop_client()
        return _unavailable()


def _requests(reader: Reader, **filters) -> list[dict[str, Any]] | Response:
    gw = gateway()
    try:
        rows = queries.service_requests(
            gw.clickhouse(),
            gw.settings.clickhouse.database,
            limit=reader.limit,
            opened_by_prefix=reader.opened_by_prefix,
            **filters,
        )
        since = min((r["reported_at"] for r in rows), default=None)
        photos = (
            queries.media_urls(
                gw.clickhouse(),
                gw.settings.clickhouse.database,
                tuple(r["incident_id"] for r in rows),
                since - timedelta(days=1),
                reported_by_prefix=reader.opened_by_prefix,
            )
            if since is not None
            else {}
        )
    except Exception as exc:  # noqa: BLE001 - ClickHouse down or the read too slow
        log.warning("Open311 read failed: %s: %s", type(exc).__name__, clean(str(exc), 300))
        _drop_client()
        return _unavailable()
    return [
        service_request(row, full=reader.full, media_url=photos.get(row["incident_id"]))
        for row in rows
    ]


def _unavailable() -> Response:
    return open311_error(
        503, "the request store is temporarily unavailable", headers={"Retry-After": "5"}
    )


def _drop_client() -> None:
    local = gateway()._local
    client = getattr(local, "client", None)
    if client is not None:
        client.disconnect()
        local.client = None


def service_request(
    row: dict[str, Any], *, full: bool, media_url: str | None = None
) -> dict[str, Any]:
    """One Open311 service request; the public view has no unit finer than the street and
    coordinates rounded to about 100 m."""
    category = CATEGORIES.get(row["category"])
    lead = DEPARTMENTS.get(row["lead_department"])
    agency = lead.name_en if lead else row["lead_department"]
    status = row["status"]
    if full:
        address_id = row["micro_grid"] or row["unit_code"] or row["street"] or row["district"]
        lat, lon = row["lat"] or None, row["lon"] or None
    else:
        address_id = row["street"] or row["district"]
        lat, lon = _rounded(row["lat"]), _rounded(row["lon"])
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
        "address_id": address_id,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": media_url,
    }


def _rounded(value: float | None) -> float | None:
    return round(value, PUBLIC_DECIMALS) if value else None


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
        raise _QueryError(f"{name} must be an ISO 8601 date-time with a time zone") from None
    if parsed.tzinfo is None:
        raise _QueryError(f"{name} must include a time zone (Z or ±HH:MM)")
    return parsed.astimezone(UTC).replace(tzinfo=None)


def _statuses(values: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        if value == "open":
            out.extend(OPEN_STATUSES)
        elif value == "closed":
            out.extend(CLOSED_STATUSES)
        else:
            raise _QueryError("status must be open or closed")
    return tuple(out)
