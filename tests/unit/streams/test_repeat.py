"""只投诉一次: linking a report to the incident it repeats."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streams.incidents.policy import Policy
from streams.incidents.repeat import Candidate, haversine_m, match_repeat
from tests.unit.streams.builders import MICRO, T0, a_report

POLICY = Policy()
LAT, LON = 32.0, 118.7


def test_same_micro_grid_and_category_links():
    found = match_repeat(a_report().report, [Candidate("i1", MICRO)], T0, POLICY)
    assert found.incident_id == "i1"


def test_other_micro_grid_does_not_link():
    assert match_repeat(a_report().report, [Candidate("i1", MICRO[:-1] + "9")], T0, POLICY) is None


def test_same_address_links_when_no_micro_grid_is_known():
    report = a_report(level="street", address="江东中路 100 号").report
    found = match_repeat(report, [Candidate("i1", "", "江东中路 100 号")], T0, POLICY)
    assert found.incident_id == "i1"


@pytest.mark.parametrize("metres,links", [(10, True), (49, True), (60, False)])
def test_coordinates_within_50_metres_link(metres, links):
    dlat = metres / 111_195  # metres per degree of latitude
    report = a_report(level="street", lat=LAT + dlat, lon=LON).report
    found = match_repeat(report, [Candidate("i1", "", "", LAT, LON)], T0, POLICY)
    assert (found is not None) is links


def test_haversine_is_about_right():
    assert abs(haversine_m(LAT, LON, LAT + 0.001, LON) - 111.2) < 0.5


@pytest.mark.parametrize("closed_days_ago,links", [(None, True), (29, True), (31, False)])
def test_window_is_open_plus_30_days_after_close(closed_days_ago, links):
    closed_at = None if closed_days_ago is None else T0 - timedelta(days=closed_days_ago)
    found = match_repeat(
        a_report().report, [Candidate("i1", MICRO, closed_at=closed_at)], T0, POLICY
    )
    assert (found is not None) is links


def test_open_incident_wins_over_a_closed_one():
    candidates = [
        Candidate("closed", MICRO, closed_at=T0 - timedelta(days=1)),
        Candidate("open", MICRO),
    ]
    assert match_repeat(a_report().report, candidates, T0, POLICY).incident_id == "open"


def test_repeated_alarms_of_one_sensor_fold_into_one_incident():
    report = a_report(level="street", sensor="wl-17").report
    candidates = [Candidate("other", ""), Candidate("sensor", "", sensor_id="wl-17")]
    assert match_repeat(report, candidates, T0, POLICY).incident_id == "sensor"
