"""只投诉一次: linking a report to the incident it repeats."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.streams.incidents.policy import Policy
from cityops.streams.incidents.repeat import Candidate, address_hash, haversine_m, match_repeat
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
    found = match_repeat(report, [Candidate("i1", "", address_hash("江东中路 100 号"))], T0, POLICY)
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


def reference_match(report, candidates, now, policy):
    """The rules as docs/engine.md states them, written plainly (no bounding box, one rule at a
    time): the optimised matcher must pick the same incident."""
    window = timedelta(days=policy.repeat_days_after_close)
    fresh = [c for c in candidates if c.closed_at is None or now - c.closed_at <= window]
    location = report.location
    rules = []
    if report.sensor:
        rules.append(lambda c: c.sensor_id == report.sensor.sensor_id)
    if location.micro_grid:
        rules.append(lambda c: c.micro_grid == location.micro_grid)
    elif location.address:
        # The index keeps a hash of the normalised address (spacing and case do not count).
        wanted = address_hash(" ".join(location.address.split()).casefold())
        rules.append(lambda c: not c.micro_grid and c.address == wanted)
    if location.lat is not None and location.lon is not None:
        rules.append(
            lambda c: (
                c.lat is not None
                and c.lon is not None
                and haversine_m(location.lat, location.lon, c.lat, c.lon) <= policy.repeat_radius_m
            )
        )
    for rule in rules:
        found = [c for c in fresh if rule(c)]
        if found:
            # the ids the rules allow: any open match, else the most recently closed ones
            best = [c for c in found if c.closed_at is None]
            if not best:
                latest = max(c.closed_at for c in found)
                best = [c for c in found if c.closed_at == latest]
            return {c.incident_id for c in best}
    return set()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([MICRO, MICRO[:-1] + "9", ""]),
            st.sampled_from(["", "中山路 1 号", "中山路1号"]),
            st.one_of(st.none(), st.floats(-0.002, 0.002)),
            st.floats(-0.002, 0.002),
            st.sampled_from(["", "wl-1", "wl-2"]),
            st.one_of(st.none(), st.integers(0, 60)),
        ),
        max_size=25,
    ),
    st.sampled_from(["micro_grid", "street"]),
    st.sampled_from([None, "wl-1"]),
    st.booleans(),
    st.sampled_from([None, "中山路 1 号"]),
)
def test_the_matcher_agrees_with_the_plain_rules(rows, level, sensor, point, address):
    candidates = [
        Candidate(
            f"c{i}",
            micro,
            address_hash(addr),
            None if dlat is None else LAT + dlat,
            None if dlat is None else LON + dlon,
            sid,
            None if days is None else T0 - timedelta(days=days, hours=1),
        )
        for i, (micro, addr, dlat, dlon, sid, days) in enumerate(rows)
    ]
    report = a_report(
        level=level,
        sensor=sensor,
        lat=LAT if point else None,
        lon=LON if point else None,
        address=address,
    ).report
    found = match_repeat(report, candidates, T0, POLICY)
    allowed = reference_match(report, candidates, T0, POLICY)
    if not allowed:
        assert found is None
    else:
        assert found is not None and found.incident_id in allowed
