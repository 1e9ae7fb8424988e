"""The report's rows (storage/report_rows.py): periods in Beijing time, tiers, ranks within a tier,
rates from counts, and the funnel's percentiles."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cityops.storage import report_rows as rr
from cityops.storage.measures import State, report_counts


@pytest.mark.parametrize(
    "kind, day, first, last, start_utc",
    [
        ("daily", "2026-12-06", "2026-12-06", "2026-12-06", "2026-12-05T16:00:00"),
        ("weekly", "2026-12-06", "2026-11-30", "2026-12-06", "2026-11-29T16:00:00"),  # a Sunday
        ("weekly", "2026-11-30", "2026-11-30", "2026-12-06", "2026-11-29T16:00:00"),  # a Monday
        ("weekly", "2027-01-01", "2026-12-28", "2027-01-03", "2026-12-27T16:00:00"),  # ISO week 53
        ("daily", "2024-02-29", "2024-02-29", "2024-02-29", "2024-02-28T16:00:00"),
    ],
)
def test_periods_are_beijing_days_and_iso_weeks(kind, day, first, last, start_utc):
    p = rr.period(kind, rr.parse_date(day))
    assert (p.first.isoformat(), p.last.isoformat()) == (first, last)
    assert p.start == datetime.fromisoformat(start_utc).replace(tzinfo=UTC)
    assert (p.end - p.start).days == (1 if kind == "daily" else 7)


def test_week_label_names_the_iso_week():
    assert rr.period("weekly", date(2027, 1, 1)).label.startswith("2026-W53")


@pytest.mark.parametrize(
    "text", ["2026-13-01", "2026-02-30", "yesterday", "", "2026-1-1", "20261206", "2026-12-06T00"]
)
def test_a_bad_date_is_one_clear_error(text):
    with pytest.raises(ValueError, match="YYYY-MM-DD") as info:
        rr.parse_date(text)
    assert "\n" not in str(info.value)


def test_today_is_the_beijing_date():
    assert rr.today_beijing(datetime(2026, 12, 6, 16, 30, tzinfo=UTC)) == date(2026, 12, 7)
    assert rr.today_beijing(datetime(2026, 12, 6, 15, 59, tzinfo=UTC)) == date(2026, 12, 6)


@pytest.mark.parametrize(
    "households, expected",
    [
        ({"a": 10}, {"a": 1}),
        ({"a": 10, "b": 5}, {"a": 1, "b": 2}),
        ({"a": 9, "b": 8, "c": 7, "d": 6, "e": 5, "f": 4}, dict(a=1, b=1, c=2, d=2, e=3, f=3)),
        # equal households: the code decides, so the tiers never depend on input order
        ({"b": 5, "a": 5, "c": 5}, {"a": 1, "b": 2, "c": 3}),
        ({f"u{i:02d}": 100 - i for i in range(11)}, None),  # 11 districts: 4, 4, 3
    ],
)
def test_tiers_split_by_households_largest_first(households, expected):
    tiers = rr.tiers(households)
    if expected is None:
        assert sorted(tiers.values()) == [1] * 4 + [2] * 4 + [3] * 3
    else:
        assert tiers == expected


@pytest.mark.parametrize(
    "scores, expected",
    [
        ({"a": 0.9, "b": 0.8, "c": 0.7}, {"a": 1, "b": 2, "c": 3}),
        ({"a": 0.8, "b": 0.9, "c": 0.8, "d": 0.1}, {"b": 1, "a": 2, "c": 2, "d": 4}),  # a tie
        ({"a": None, "b": 0.5}, {"a": None, "b": 1}),  # no incidents: no rank
        ({"a": None, "b": None}, {"a": None, "b": None}),
    ],
)
def test_competition_rank_within_one_tier(scores, expected):
    assert rr.rank_in_tiers(scores, dict.fromkeys(scores, 1)) == expected


def test_ranks_restart_in_each_tier():
    ranks = rr.rank_in_tiers({"a": 0.9, "b": 0.1, "c": 0.5}, {"a": 1, "b": 2, "c": 2})
    assert ranks == {"a": 1, "c": 1, "b": 2}


@pytest.mark.parametrize(
    "rates, expected",
    [
        ({}, None),
        ({"on_time_rate": 1.0, "repeat_rate": 0.0}, 1.0),
        ({"on_time_rate": 0.5, "closure_rate": None, "repeat_rate": 0.5}, 0.5),
        ({"on_time_rate": 0.1 + 0.2, "closure_rate": 0.3}, 0.3),  # float noise is not a tie-break
    ],
)
def test_score_is_the_mean_of_the_rates(rates, expected):
    assert rr.score(rates) == expected


def _counts(**kw):
    return {**dict.fromkeys(rr.COUNT_NAMES, 0), **kw}


def test_rows_carry_the_contract_columns_and_rank_units_within_their_tier():
    units = [rr.Unit("d1", "大区", 1000), rr.Unit("d2", "中区", 900), rr.Unit("d3", "小区", 10)]
    counts = {
        "d1": _counts(
            incidents=4,
            on_time=2,
            closed_all=2,
            repeat=1,
            closed=2,
            confirmed_solved=1,
            answered=2,
            satisfied=1,
        ),
        "d2": _counts(
            incidents=2,
            on_time=2,
            closed_all=2,
            closed=2,
            confirmed_solved=2,
            answered=1,
            satisfied=1,
        ),
    }
    rows = rr.rows(units, counts, {"d1": 7, "d3": 1})
    assert [set(r) - {"score"} for r in rows] == [set(rr.COLUMNS)] * 3
    by = {r["unit_code"]: r for r in rows}
    assert by["d1"]["tier"] == 1 and by["d2"]["tier"] == 2 and by["d3"]["tier"] == 3
    assert by["d1"]["on_time_rate"] == 0.5 and by["d1"]["repeat_rate"] == 0.25
    assert by["d1"]["actual_resolution_rate"] == 0.5 and by["d1"]["satisfaction_rate"] == 0.5
    assert by["d2"]["closure_rate"] == 1.0 and by["d2"]["rank"] == 1
    assert by["d3"] == {**by["d3"], "events": 1, "incidents": 0, "rank": None, "on_time_rate": None}


def test_rows_are_the_same_whatever_the_input_order():
    units = [rr.Unit(f"s{i}", f"街道{i}", 100 + i % 3) for i in range(9)]
    counts = {f"s{i}": _counts(incidents=2, on_time=i % 3, closed_all=1) for i in range(9)}
    assert rr.rows(units, counts, {}) == rr.rows(units[::-1], dict(reversed(counts.items())), {})


def test_rows_use_the_measures_twin():
    states = [("d1", State("closed", "street", breached=True)), ("d1", State("reported", "grid"))]
    counts = report_counts(states)
    row = rr.rows([rr.Unit("d1", "x", 1)], counts, {})[0]
    assert (row["incidents"], row["on_time_rate"], row["closure_rate"]) == (2, 0.5, 0.5)


@pytest.mark.parametrize(
    "value, text", [(None, ""), (0.5, "0.5000"), (2 / 3, "0.6667"), (3, "3"), ("名", "名")]
)
def test_csv_cells(value, text):
    assert rr.cell(value) == text


@pytest.mark.parametrize(
    "values, q, expected",
    [([], 50, None), ([5], 90, 5), ([1, 2, 3, 4], 50, 2), ([4, 3, 2, 1], 90, 4),
     (list(range(1, 11)), 90, 9), (list(range(1, 101)), 50, 50)],
)  # fmt: skip
def test_nearest_rank_percentiles(values, q, expected):
    assert rr.percentile(values, q) == expected


def test_funnel_times_each_stage_from_the_one_before_and_checks_its_limit():
    base = {"reported": 0, "accept_due": 1800, "resolve_due": 86400, "callback_overdue": False}
    incidents = [
        {**base, "dispatched": 10, "accepted": 610, "resolved": 3610, "callback": 7210},
        {
            **base,
            "dispatched": 20,
            "accepted": 2020,
            "resolved": 90020,
            "callback": None,
            "callback_overdue": True,
        },
        {**base, "dispatched": 30, "accepted": None, "resolved": 999, "callback": None},
        {**base, "dispatched": None, "accepted": None, "resolved": None, "callback": None},
    ]
    f = rr.funnel(incidents)
    assert f["dispatched"] == {"n": 3, "median_s": 20, "p90_s": 30, "within": None}
    assert f["accepted"] == {"n": 2, "median_s": 600, "p90_s": 2000, "within": 0.5}
    # resolved without an accepted time is not timed from an unknown start
    assert f["resolved"] == {"n": 2, "median_s": 3000, "p90_s": 88000, "within": 0.5}
    assert f["callback"] == {"n": 1, "median_s": 3600, "p90_s": 3600, "within": 1.0}
