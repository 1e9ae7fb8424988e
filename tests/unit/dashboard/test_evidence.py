"""The incident page's evidence photos: this platform's stored photos inline from the
dashboard's own /media/, any other URL a link only (no fetch from a stranger's server)."""

from __future__ import annotations

import orjson

from cityops.dashboard import evidence

STORED = "http://gw:8080/open311/v2/media/" + "ab" * 32 + ".png"


def report(media_url=None, type_="city.report.v1") -> dict:
    data = {"title": "t"} if media_url is None else {"title": "t", "media_url": media_url}
    return {"type": type_, "payload": orjson.dumps({"data": data}).decode()}


def test_photos_of_reports_in_order_once_each() -> None:
    events = [
        report(STORED),
        report(),
        report("https://dept.example/p.jpg"),
        report(STORED),
        report("https://x.example/a.png", type_="city.incident.note.v1"),
        {"type": "city.report.v1", "payload": "not json"},
    ]
    assert evidence.photos(events) == [
        ("ab" * 32 + ".png", STORED),
        (None, "https://dept.example/p.jpg"),
    ]


def test_a_stored_photo_is_an_image_from_the_dashboard_and_another_url_a_link() -> None:
    section = evidence.section([report(STORED), report("https://dept.example/p.jpg")], "inc-1")
    stored, other = section.children[1].children
    assert stored.children.src == "/media/inc-1/" + "ab" * 32 + ".png"
    assert other.href == "https://dept.example/p.jpg" and isinstance(other.children, str)
    assert "noreferrer" in other.rel


def test_no_photo_no_section() -> None:
    assert evidence.section([report()], "inc-1").hidden is True
