"""The gateway's pure decisions: token buckets charged per event with bounded memory, JSON depth,
log-line cleaning, the Open311 read window and public view, and the reporter pseudonym."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

import msgspec
import pytest

from cityops.streams.publish.gateway.app import clean
from cityops.streams.publish.gateway.open311 import reporter_hash
from cityops.streams.publish.gateway.open311_reads import _QueryError, service_request, window
from cityops.streams.publish.gateway.problems import too_deep
from cityops.streams.publish.gateway.ratelimit import RateLimiter, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("costs", "expected"),
    [
        ([1000, 1000], [0, 0]),  # the burst of 2,000 in two batches
        ([1000, 1000, 1000], [0, 0, 20.0]),  # 1,000 more take 20 s at 50/s
        ([1500, 600], [0, 2.0]),  # 500 left, 100 missing: 2 s
        ([2000, 1], [0, 0.02]),
        ([2001], [math.inf]),  # more than the burst can ever pay
    ],
)
def test_a_bucket_charges_one_token_per_event(costs, expected):
    limiter = RateLimiter(50, 2000, clock=Clock())
    assert [limiter.take("k", cost) for cost in costs] == pytest.approx(expected)


def test_a_refused_charge_spends_nothing_and_refills_over_time():
    clock = Clock()
    limiter = RateLimiter(50, 2000, clock=clock)
    assert limiter.take("k", 2000) == 0
    assert limiter.take("k", 1000) == pytest.approx(20.0)
    assert limiter.take("k", 1) == pytest.approx(0.02)
    clock.now = 20.0
    assert limiter.take("k", 1000) == 0
    assert limiter.take("other", 2000) == 0


def test_idle_buckets_are_forgotten_so_memory_stays_bounded():
    clock = Clock()
    limiter = RateLimiter(1, 5, clock=clock, max_buckets=100)
    for n in range(100):
        limiter.take(f"addr-{n}", 5)
    clock.now = 1.0  # none has refilled: the least recently used go
    for n in range(100, 1000):
        limiter.take(f"addr-{n}", 1)
        assert len(limiter) <= 100
    clock.now = 10.0  # all full again: forgetting them changes nothing
    limiter.take("late", 1)
    assert len(limiter) <= 100 and limiter.take("late", 4) == 0


@pytest.mark.parametrize(
    ("seconds", "header"), [(0.02, "1"), (1.0, "1"), (19.5, "20"), (math.inf, "3600")]
)
def test_retry_after_is_whole_seconds(seconds, header):
    assert retry_after(seconds) == header


@pytest.mark.parametrize(
    ("document", "deep"),
    [
        ({"a": 1}, False),
        ([], False),
        ("text", False),
        ({"data": {"location": {"district": "320102"}}}, False),
    ],
)
def test_ordinary_events_are_not_too_deep(document, deep):
    assert too_deep(document, 64) is deep


@pytest.mark.parametrize(("depth", "deep"), [(64, False), (65, True), (300, True), (5000, True)])
def test_nesting_past_the_limit_is_too_deep(depth, deep):
    document: list = []  # one level
    for _ in range(depth - 1):
        document = [1, document, {"a": 2}]
    assert too_deep(document, 64) is deep
    assert too_deep({"data": document}, 64) is (depth + 1 > 64)


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ("evt-1", "evt-1"),
        ("evil\nINJECTED", "evil\\x0aINJECTED"),
        ("a\r\nb", "a\\x0d\\x0ab"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("line\u2028sep", "line\\u2028sep"),
        ("夫子庙噪声", "夫子庙噪声"),
        ("x" * 300, "x" * 200 + "…"),
    ],
)
def test_clean_keeps_client_text_on_one_line(text, logged):
    assert clean(text) == logged


NOW = datetime(2026, 12, 6, 8, 0)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (None, None, (NOW - timedelta(days=90), None)),
        (NOW - timedelta(days=3), None, (NOW - timedelta(days=3), None)),
        (None, NOW - timedelta(days=10), (NOW - timedelta(days=100), NOW - timedelta(days=10))),
        (NOW - timedelta(days=40), NOW - timedelta(days=20), None),
    ],
)
def test_a_list_read_has_a_window_of_at_most_90_days(start, end, expected):
    if expected is None:
        expected = (start, end)
    assert window(start, end, NOW) == expected


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (NOW - timedelta(days=91), None),
        (NOW - timedelta(days=400), NOW),
        (NOW, NOW - timedelta(days=1)),
    ],
)
def test_longer_or_backward_windows_are_refused(start, end):
    with pytest.raises(_QueryError):
        window(start, end, NOW)


ROW = {
    "incident_id": "320104002-0123456789abcdef",
    "status": "dispatched",
    "category": "noise",
    "title": "夜间施工噪声",
    "lead_department": "ecology",
    "district": "320104",
    "street": "320104002",
    "unit_code": "3201040020010101",
    "micro_grid": "3201040020010101",
    "lat": 32.021987,
    "lon": 118.789654,
    "reported_at": NOW,
    "updated_at": NOW,
    "resolve_due": NOW,
}


def test_the_public_view_rounds_coordinates_and_stops_at_the_street():
    public = service_request(ROW, full=False)
    assert (public["lat"], public["long"]) == (32.022, 118.79)
    assert public["address_id"] == "320104002"
    assert "3201040020010101" not in str(public)
    full = service_request(ROW, full=True)
    assert (full["lat"], full["long"], full["address_id"]) == (
        32.021987,
        118.789654,
        "3201040020010101",
    )
    assert service_request({**ROW, "lat": 0.0, "lon": 0.0}, full=False)["lat"] is None


def test_the_reporter_pseudonym_is_a_keyed_hash():
    form = {"email": "Citizen@Example.cn", "phone": " 13800000000 "}
    one = reporter_hash(b"secret-1", form)
    assert one == reporter_hash(
        b"secret-1", {"email": "citizen@example.cn", "phone": "13800000000"}
    )
    assert one != reporter_hash(b"secret-2", form)
    plain = hashlib.sha256(b"citizen@example.cn|13800000000||").hexdigest()
    assert one not in (plain, plain[:32]) and len(one) == 32
    assert reporter_hash(b"secret-1", {"email": " "}) is None


def test_the_public_marker_is_found_in_the_state_the_engine_stores():
    """storage/service_requests.py finds Open311 incidents by this text in `incidents.state`."""
    from cityops.streams.incidents.logic import step
    from cityops.streams.incidents.rows import encode_state
    from tests.unit.streams.builders import POLICY, T0, a_report

    marker = b'"opened_by":"open311-'
    opened, _, _ = step(None, a_report(id="open311-0123abcd"), T0, POLICY)
    assert marker in encode_state(opened)
    repeat, _, _ = step(opened, a_report(id="evt-2", at=T0), T0, POLICY)
    assert marker in encode_state(repeat)
    other, _, _ = step(None, a_report(id="evt-3"), T0, POLICY)
    titled = msgspec.structs.replace(other, title='x","opened_by":"open311-fake')
    assert marker not in encode_state(titled)
