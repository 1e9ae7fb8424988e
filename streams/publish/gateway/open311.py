"""Open311 GeoReport v2 under /open311/v2/ (XML, the spec's default, or JSON, by the path's
extension; open311_xml.py): the category taxonomy as services and citizen requests in as
city.report.v1 events (the reads are in open311_reads.py). A request's event id starts with
OPEN311_ID_PREFIX, which marks the incidents it opens as public; no other publisher may use that
prefix. Errors in Open311's format: [{"code": …, "description": …}] or <errors><error>…."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from flask import Blueprint, Response, request, send_file

from cityops import media
from cityops.schemas.binding import format_time
from cityops.schemas.events import InvalidEvent
from cityops.schemas.taxonomy import CATEGORIES
from cityops.sdk import report
from cityops.streams.publish.gateway.app import authenticated, gateway
from cityops.streams.publish.gateway.open311_xml import (
    FORMATS,
    answer,
    errors_body,
    requested_format,
)
from cityops.streams.publish.gateway.ratelimit import retry_after

open311_api = Blueprint("open311_api", __name__, url_prefix="/open311/v2")

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
OPEN311_ID_PREFIX = "open311-"
CONTACT_FIELDS = ("email", "phone", "device_id", "account_id")


def open311_error(code: int, description: str, headers: dict[str, str] | None = None) -> Response:
    """An Open311 error in the format the request's path asked for (XML for `….xml`)."""
    response = answer(errors_body(code, description), requested_format(), "errors", code)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _known_format(fmt: str) -> Response | None:
    """The refusal of a format other than XML and JSON."""
    if fmt not in FORMATS:
        return open311_error(400, f"format {fmt[:20]!r} is not supported; use .xml or .json")
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
    return _known_format(fmt) or answer([_service(c) for c in CATEGORIES.values()], fmt, "services")


@open311_api.get("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str) -> Response:
    if (bad := _known_format(fmt)) is not None:
        return bad
    category = CATEGORIES.get(code)
    if category is None:
        return open311_error(404, "service_code not found")
    return answer(
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
        },
        fmt,
        "service_definition",
    )


# -- POST a request ------------------------------------------------------------------------------
@open311_api.post("/requests.<fmt>")
def post_request(fmt: str) -> Response:
    if (bad := _known_format(fmt)) is not None:
        return bad
    if request.mimetype not in FORM_TYPES:
        return open311_error(
            400, "send the request form-encoded (application/x-www-form-urlencoded)"
        )
    gw = gateway()
    # room for one photo besides the form (413 from the error handler beyond it)
    request.max_content_length = gw.settings.gateway_max_body + gw.settings.gateway_media_max
    form = request.form
    key = authenticated(form.get("api_key") or request.args.get("api_key"))
    if key is None:
        return open311_error(403, "api_key was not provided or is invalid")
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
        photo, media_url = _media(form, gw.settings.gateway_media_max)
    except media.MediaError as exc:
        return open311_error(exc.status, str(exc))
    try:
        event = _report_from_form(form, category, media_url)
        publisher = gw.publisher()
        parsed = publisher.validate({**event, "source": f"/departments/{key.department}"})
    except _FormError as exc:
        return open311_error(400, str(exc))
    except InvalidEvent as exc:
        return open311_error(400, str(exc))
    if photo is not None:  # kept only for a request that is about to be published
        media.store(gw.settings.home, *photo)
    try:
        publisher.submit(parsed).wait(gw.settings.gateway_ack_timeout)
    except Exception:  # noqa: BLE001 - any broker failure: nothing is confirmed
        return open311_error(
            503,
            "the service is temporarily unavailable; try again later",
            headers={"Retry-After": "5"},
        )
    return answer(
        [
            {
                "token": parsed.id,
                "service_notice": "Received. The token becomes a service_request_id once "
                f"the request is processed: GET tokens/{{token}}.{fmt}",
            }
        ],
        fmt,
        "service_requests",
    )


class _FormError(ValueError):
    pass


def _media(form, limit: int) -> tuple[tuple[bytes, str] | None, str | None]:
    """The photo of the request and its media_url: an uploaded `media` file, checked by its
    content (cityops/media.py) and named by its hash, as this gateway's URL; or the client's
    own `media_url` (checked by the validator: an absolute http(s) URL). Never both."""
    upload = request.files.get("media")
    given = form.get("media_url") or None
    if upload is None:
        return None, given
    if given:
        raise media.MediaError(400, "send media or media_url, not both")
    data = upload.stream.read(limit + 1)
    ext = media.check_upload(data, limit)
    return (data, ext), f"{request.host_url}open311/v2/media/{media.name_of(data, ext)}"


@open311_api.get("/media/<name>")
def get_media(name: str) -> Response:
    """A stored photo, by the name its media_url gives (a hash no one can guess): served as the
    image type its content was checked to be, never sniffed or run by the browser."""
    path = media.media_file(gateway().settings.home, name)
    if path is None:
        return open311_error(404, "media not found")
    response = send_file(path, mimetype=media.CONTENT_TYPES[path.suffix[1:]], max_age=86_400)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Content-Disposition"] = "inline"
    return response


def _report_from_form(form, category, media_url: str | None) -> dict[str, Any]:
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
    event = report(
        category=category.code,
        severity=int(severity),
        title=title,
        location=location,
        channel="app",
        description=description[:4000] or None,
        reporter_hash=reporter_hash(gateway().reporter_key, form),
        id=f"{OPEN311_ID_PREFIX}{uuid.uuid4().hex}",
    )
    if media_url:
        event["data"]["media_url"] = media_url
    return event


def reporter_hash(secret: bytes, form) -> str | None:
    """A pseudonym of the reporter's contact (e-mail, phone, device, account): an HMAC-SHA256
    with the server's secret, so a list of phone numbers cannot be hashed to find who reported.
    The same contact gives the same pseudonym while the secret stays; None without contact."""
    parts = [(form.get(name) or "").strip() for name in CONTACT_FIELDS]
    if not any(parts):
        return None
    parts[0] = parts[0].lower()  # e-mail addresses are compared case-blind
    contact = "|".join(parts).encode("utf-8", "surrogatepass")
    return hmac.new(secret, contact, hashlib.sha256).hexdigest()[:32]


__all__ = ["OPEN311_ID_PREFIX", "open311_api", "open311_error", "format_time"]
