"""Problem details list every invalid field of an event, not only the first."""

from __future__ import annotations

from datetime import UTC, datetime

from cityops.schemas.registry import load_registry
from cityops.streams.publish.gateway.problems import _pointer, all_errors
from cityops.streams.publish.gateway.ratelimit import RateLimiter

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_all_errors_of_a_report_are_listed_in_order():
    doc = {
        "specversion": "0.3",
        "id": "x",
        "source": "/departments/water",
        "type": "city.report.v1",
        "time": "2026-11-27T07:00:00Z",
        "data": {
            "channel": "fax",
            "category": "waterlogging",
            "severity": 0,
            "title": " ",
            "location": {"district": "320105", "street": "320104001"},
        },
    }
    paths = [e.path for e in all_errors(doc, now=NOW, registry=load_registry())]
    assert paths == [
        "specversion",
        "data.channel",
        "data.severity",
        "data.title",
        "data.location.street",
    ]


def test_a_valid_event_has_no_errors():
    doc = {
        "specversion": "1.0",
        "id": "x",
        "source": "/departments/water",
        "type": "city.incident.accept.v1",
        "time": "2026-11-27T07:00:00Z",
        "data": {"incident_id": "320105001-ab", "department": "water"},
    }
    assert all_errors(doc, now=NOW, registry=load_registry()) == []


def test_an_unrepairable_error_stops_the_list():
    doc = {
        "specversion": "1.0",
        "id": "x",
        "source": "/departments/water",
        "type": "nope",
        "time": "2026-11-27T07:00:00Z",
        "data": {},
    }
    assert [e.path for e in all_errors(doc, now=NOW, registry=load_registry())] == ["type"]


def test_json_pointers():
    assert _pointer("data.departments[1]") == "#/data/departments/1"
    assert _pointer("$") == "#"


def test_rate_limiter_allows_a_burst_then_refills():
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=3, clock=lambda: now[0])
    assert [limiter.take("k") for _ in range(3)] == [0, 0, 0]
    assert limiter.take("k") == 0.5
    assert limiter.take("other") == 0
    now[0] += 0.5
    assert limiter.take("k") == 0
