"""Working-day arithmetic on China's calendar: public holidays and make-up workdays (调休) come from
the `chinesecalendar` package. Outside the years it covers, weekends are the only days off and a
warning says so once per year. Deadlines count in Beijing time (UTC+8, no daylight saving).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache

import chinese_calendar

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
log = logging.getLogger(__name__)
_warned: set[int] = set()


@lru_cache(maxsize=4096)
def is_working_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # The package only knows the years the State Council has published.
        if day.year not in _warned:
            _warned.add(day.year)
            log.warning(
                "China's holiday calendar has no data for %s: counting weekends only", day.year
            )
        return day.weekday() < 5


def covered(year: int) -> bool:
    """True when the holiday calendar knows `year` (else only weekends are days off)."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def next_working_day(day: date) -> date:
    day += timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


@lru_cache(maxsize=8192)
def _after_working_days(day: date, count: int) -> date:
    for _ in range(count):
        day = next_working_day(day)
    return day


@lru_cache(maxsize=8192)
def _span(day: date, count: int) -> timedelta:
    """From `day` to `count` working days after it, in whole calendar days."""
    return _after_working_days(day, count) - day


def add_working_days(start: datetime, days: float) -> datetime:
    """`start` plus `days` working days, at the same Beijing clock time on the last of them.

    A start on a day off counts from the beginning (00:00) of the next working day, so
    "within 1 working day" from a holiday means by the end of the first working day after it.
    Fractions count as that share of 24 hours on the final working day.
    """
    day = start.astimezone(BEIJING).date()
    whole = int(days)
    if is_working_day(day):
        # Beijing keeps one offset all year: the same clock time n calendar days later is the
        # instant n × 24 hours later (no per-call date and time arithmetic in Beijing time).
        due = start.astimezone(UTC) + _span(day, whole)
    else:
        day = _after_working_days(next_working_day(day), whole)
        due = datetime.combine(day, time(0, tzinfo=BEIJING)).astimezone(UTC)
    rest = days - whole
    if rest:
        due += timedelta(days=rest)
    return due
