"""The wall's kiosk-safe supervision summary (pure): supervised matters counted per level and
district — open, overdue (open past the deadline, or a callback gone unanswered), closed — each
level's districts with the most overdue first."""

from __future__ import annotations

from cityops.storage.supervision_queries import summary_counts

NOW = 1_000_000


def test_counts_per_level_and_district_overdue_first():
    rows = [
        ("street", "reopened", "320105", NOW + 3600),  # open, in time
        ("street", "reopened", "320102", NOW - 60),  # overdue
        ("street", "dispatched", "320102", NOW + 60),
        ("community", "callback_overdue", "320105", NOW + 3600),  # overdue, not open
        ("community", "closed", "320105", NOW - 9999),  # closed: never overdue
        ("district", "resolved", "320104", NOW - 60),
    ]
    assert summary_counts(rows, NOW) == [
        {"level": "district", "district": "320104", "open": 0, "overdue": 0, "closed": 1},
        {"level": "street", "district": "320102", "open": 2, "overdue": 1, "closed": 0},
        {"level": "street", "district": "320105", "open": 1, "overdue": 0, "closed": 0},
        {"level": "community", "district": "320105", "open": 0, "overdue": 1, "closed": 2},
    ]


def test_no_supervised_matter_no_rows():
    assert summary_counts([], NOW) == []
