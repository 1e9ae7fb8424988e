"""Working days on China's calendar: holidays and make-up workdays (调休) from chinesecalendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from cityops.streams.incidents.calendar import add_working_days, covered, is_working_day


@pytest.mark.parametrize(
    "day,working",
    [
        (date(2026, 9, 30), True),  # Wednesday before National Day
        (date(2026, 10, 1), False),  # National Day
        (date(2026, 10, 7), False),
        (date(2026, 10, 10), True),  # a Saturday made a workday (调休)
        (date(2026, 10, 11), False),  # an ordinary Sunday
        (date(2026, 9, 20), True),  # a Sunday made a workday (调休)
    ],
)
def test_working_days_follow_the_state_council_calendar(day, working):
    assert is_working_day(day) is working


def bj(y, m, d, h=10, minute=0):
    """A Beijing wall-clock time as UTC."""
    return (
        datetime(y, m, d, h - 8, minute, tzinfo=UTC)
        if h >= 8
        else datetime(y, m, d - 1, h + 16, minute, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    "start,days,due",
    [
        # Wednesday 10:00 + 1 working day: Thursday 10:00
        (bj(2026, 11, 25), 1, bj(2026, 11, 26)),
        # Friday 10:00 + 1: Monday 10:00
        (bj(2026, 11, 27), 1, bj(2026, 11, 30)),
        # the day before National Day + 1: over the holiday to Thursday 8 October
        (bj(2026, 9, 30), 1, bj(2026, 10, 8)),
        # + 2 from 30 September: 9 October (Friday), + 3: Saturday 10 October (调休)
        (bj(2026, 9, 30), 2, bj(2026, 10, 9)),
        (bj(2026, 9, 30), 3, bj(2026, 10, 10)),
        # reported during the holiday: counts from the start of 8 October, due by its end
        (bj(2026, 10, 3, 15), 1, bj(2026, 10, 9, 0)),
    ],
)
def test_add_working_days_over_holidays_and_make_up_days(start, days, due):
    assert add_working_days(start, days) == due


def test_years_the_calendar_does_not_cover_fall_back_to_weekends(caplog):
    year = 2099
    assert not covered(year)
    assert is_working_day(date(year, 1, 2))  # a Friday
    assert not is_working_day(date(year, 1, 3))  # a Saturday


@pytest.mark.parametrize("offset_hours", [0, 8, -5])
def test_a_due_time_keeps_the_start_clock_to_the_microsecond_and_is_utc(offset_hours):
    start = bj(2026, 9, 30, 23, 59).replace(second=58, microsecond=123_456)  # Wednesday
    given = start.astimezone(timezone(timedelta(hours=offset_hours)))
    due = add_working_days(given, 2)
    assert due.tzinfo is UTC
    assert due == bj(2026, 10, 9, 23, 59).replace(second=58, microsecond=123_456)


def test_a_fraction_of_a_working_day_is_that_share_of_24_hours():
    assert add_working_days(bj(2026, 11, 27), 1.5) == bj(2026, 11, 30, 22)  # Friday → Monday
    assert add_working_days(bj(2026, 10, 3, 15), 0.25) == bj(2026, 10, 8, 6)  # from a holiday
