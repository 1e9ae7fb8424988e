"""Notification attempts in the incident page's timeline."""

from __future__ import annotations

from dash import html

from cityops.dashboard.notifications import attempt_item, merged

ATTEMPT = {
    "time": 1_700_000_100, "notification_id": "i:extreme:open", "trigger": "extreme",
    "target": "desk", "kind": "webhook", "attempt": 2, "status": "retry", "http_status": 503,
    "error": "HTTP 503 Service Unavailable",
}  # fmt: skip


def test_an_attempt_names_trigger_target_attempt_and_outcome():
    text = str(attempt_item(ATTEMPT).to_plotly_json())
    for part in ("特别重大事项", "desk", "第 2 次", "失败，将重试", "HTTP 503", "notify-retry"):
        assert part in text


def test_attempts_and_transitions_in_time_order():
    steps = [(1_700_000_000, html.Li("opened")), (1_700_000_200, html.Li("escalated"))]
    later = {**ATTEMPT, "time": 1_700_000_200, "attempt": 3, "status": "delivered"}
    items = merged(steps, [later, ATTEMPT])
    assert [getattr(li, "children", None) for li in items][0] == "opened"
    assert "tl-notification" in items[1].className and items[2].children == "escalated"
    assert "notify-delivered" in str(items[3].to_plotly_json())
