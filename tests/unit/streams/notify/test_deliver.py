"""What an answer means and how long to wait: table-driven, no network."""

from __future__ import annotations

import pytest

from cityops.streams.notify.deliver import (
    DELIVERED,
    FAILED,
    GAVE_UP,
    RETRY,
    Answer,
    backoff,
    error_text,
    outcome,
)


@pytest.mark.parametrize(
    ("kind", "answer", "attempt", "expected"),
    [
        ("webhook", Answer(200, ""), 1, DELIVERED),
        ("webhook", Answer(204, ""), 3, DELIVERED),
        ("webhook", Answer(500, "HTTP 500"), 1, RETRY),
        ("webhook", Answer(503, "HTTP 503"), 4, RETRY),
        ("webhook", Answer(503, "HTTP 503"), 5, GAVE_UP),
        ("webhook", Answer(0, "no answer: timeout"), 1, RETRY),
        ("webhook", Answer(0, "no answer: refused"), 5, GAVE_UP),
        ("webhook", Answer(400, "HTTP 400"), 1, FAILED),
        ("webhook", Answer(404, "HTTP 404"), 1, FAILED),
        ("webhook", Answer(429, "HTTP 429"), 1, FAILED),
        ("webhook", Answer(302, "HTTP 302"), 1, FAILED),
        ("wecom", Answer(200, "", b'{"errcode":0,"errmsg":"ok"}'), 1, DELIVERED),
        ("wecom", Answer(200, "", b'{"errcode":93000,"errmsg":"invalid webhook url"}'), 1, FAILED),
        ("dingtalk", Answer(200, "", b'{"errcode":310000,"errmsg":"sign not match"}'), 1, FAILED),
        ("dingtalk", Answer(200, "", b"not json"), 1, DELIVERED),
        ("webhook", Answer(200, "", b'{"errcode":1}'), 1, DELIVERED),  # only robots speak errcode
    ],
)
def test_outcome(kind, answer, attempt, expected):
    assert outcome(kind, answer, attempt, max_attempts=5) == expected


def test_a_robot_error_is_recorded_with_its_code():
    answer = Answer(200, "", b'{"errcode":310000,"errmsg":"sign not match"}')
    assert error_text("dingtalk", answer) == "errcode 310000: sign not match"
    assert error_text("webhook", Answer(500, "HTTP 500 Internal Server Error")).startswith(
        "HTTP 500"
    )


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "seconds"),
    [(1, 1.0, 60, 1.0), (2, 1.0, 60, 2.0), (3, 1.0, 60, 4.0), (7, 1.0, 60, 60), (2, 0.05, 1, 0.1)],
)
def test_backoff_doubles_up_to_its_cap(attempt, base, cap, seconds):
    assert backoff(attempt, base, cap) == seconds
