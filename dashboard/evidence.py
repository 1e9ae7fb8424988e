"""Evidence photos on the incident page: each report's `media_url` (an Open311 photo or a
department's link). A photo this platform stored (cityops/media.py) is shown inline from the
dashboard's own `/media/<name>` (signed-in users only, like every desk page); any other URL is
only a link, so opening an incident never makes the browser fetch from a stranger's server."""

from __future__ import annotations

from typing import Any

import orjson
from dash import html
from flask import Flask, abort, send_file

from cityops import media
from cityops.dashboard import labels as L

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


def section(events: list[dict[str, Any]]) -> html.Section:
    shown = photos(events)
    if not shown:
        return html.Section(id=EVIDENCE, hidden=True)
    items = []
    for name, url in shown:
        if name is not None:
            items.append(
                html.A(
                    html.Img(src=f"/media/{name}", alt="现场照片 photo", className="photo"),
                    href=f"/media/{name}",
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


def install(server: Flask, settings) -> None:
    """`/media/<name>`: a stored photo (behind the desk's sign-in guard, dashboard/auth.py)."""

    @server.route("/media/<name>")
    def _media(name: str):
        path = media.media_file(settings.home, name)
        if path is None:
            abort(404)
        response = send_file(path, mimetype=media.CONTENT_TYPES[path.suffix[1:]], max_age=3600)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response
