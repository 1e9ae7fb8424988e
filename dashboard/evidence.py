"""Evidence photos on the incident page: each report's `media_url` (an Open311 photo or a
department's link). A photo this platform stored (cityops/media.py) is shown inline from the
dashboard's own `/media/<incident_id>/<name>`; any other URL is only a link, so opening an
incident never makes the browser fetch from a stranger's server. That route answers only a
signed-in user who may see the incident (a district officer: only in the district) and only
with a photo of one of the incident's own reports."""

from __future__ import annotations

from typing import Any

import orjson
from dash import html
from flask import Flask, abort, send_file

from cityops import media
from cityops.dashboard import labels as L
from cityops.dashboard.auth import current_scope, signed_in
from cityops.storage import incident_pages as ip

EVIDENCE = "evidence"  # element id of the section


def photos(events: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    """(stored name or None, media_url) of every report with a media_url, oldest first, once
    each."""
    found: dict[str, str | None] = {}
    for event in events:
        if event.get("type") != "city.report.v1":
            continue
        try:
            data = orjson.loads(event["payload"]).get("data") or {}
        except (orjson.JSONDecodeError, AttributeError):
            continue
        url = data.get("media_url") if isinstance(data, dict) else None
        if isinstance(url, str) and url and url not in found:
            found[url] = media.stored_name(url)
    return [(name, url) for url, name in found.items()]


def section(events: list[dict[str, Any]], incident_id: str) -> html.Section:
    shown = photos(events)
    if not shown:
        return html.Section(id=EVIDENCE, hidden=True)
    items = []
    for name, url in shown:
        if name is not None:
            items.append(
                html.A(
                    html.Img(
                        src=f"/media/{incident_id}/{name}", alt="现场照片 photo", className="photo"
                    ),
                    href=f"/media/{incident_id}/{name}",
                    target="_blank",
                    rel="noopener noreferrer",
                )
            )
        else:
            items.append(html.A(url, href=url, target="_blank", rel="noopener noreferrer nofollow"))
    return html.Section(
        [html.H2(L.t("现场照片", "evidence photos")), html.Div(items, className="photos")],
        id=EVIDENCE,
    )


def install(server: Flask, settings, backend) -> None:
    """`/media/<incident_id>/<name>`: a stored photo of one of the incident's reports, for a
    signed-in user who may see the incident (behind the desk's sign-in guard too)."""

    @server.route("/media/<incident_id>/<name>")
    def _media(incident_id: str, name: str):
        path = media.media_file(settings.home, name)
        if path is None or signed_in() is None or len(incident_id) > 128:
            abort(404)
        inc = backend.run(ip.incident, incident_id, scope=current_scope())
        if inc is None:
            abort(404)  # no such incident, or not in the officer's district
        since = (inc["reported_at"] or 0) - 86400
        events = backend.run(ip.incident_events, incident_id, since=since)
        if name not in {stored for stored, _ in photos(events)}:
            abort(404)
        response = send_file(path, mimetype=media.CONTENT_TYPES[path.suffix[1:]], max_age=3600)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response.headers["Cache-Control"] = "private, max-age=3600"
        return response
