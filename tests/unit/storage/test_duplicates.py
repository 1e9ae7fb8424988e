"""Possible duplicates (storage/duplicates.py): the distance, the box the query narrows by, and
which incidents are suggested — same category, open, within 50 m and 72 h, nearest first."""

from __future__ import annotations

import pytest

from cityops.storage import duplicates as dup

LAT, LON = 32.0, 118.7
M_LAT = 1 / 111_195  # degrees of latitude per metre (mean earth radius)


def _row(incident_id="b", *, north_m=0.0, hours=0.0, category="road_damage",
         status="dispatched", lat=LAT, lon=LON) -> dict:  # fmt: skip
    return {"incident_id": incident_id, "status": status, "category": category,
            "reported_at": 1_700_000_000 + int(hours * 3600), "lat": lat + north_m * M_LAT,
            "lon": lon, "title": incident_id}  # fmt: skip


HERE = _row("a")


@pytest.mark.parametrize(
    "other, suggested",
    [
        (_row(north_m=10), True),
        (_row(north_m=49.5), True),
        (_row(north_m=50.5), False),  # too far
        (_row(north_m=10, hours=72), True),
        (_row(north_m=10, hours=-71.9), True),  # reported before
        (_row(north_m=10, hours=72.01), False),  # too late
        (_row(north_m=10, category="garbage"), False),
        (_row(north_m=10, status="closed"), False),
        (_row(north_m=10, status="resolved"), False),
        (_row(north_m=10, status="reopened"), True),
        (_row("a", north_m=0), False),  # itself
        (_row(lat=0.0, lon=0.0), False),  # no coordinates
    ],
)
def test_which_incidents_are_suggested(other, suggested):
    assert bool(dup.candidates(HERE, [other])) is suggested


def test_nothing_for_a_closed_or_unplaced_incident_and_nearest_first():
    near, far = _row("far", north_m=40), _row("near", north_m=5, hours=3)
    assert dup.candidates({**HERE, "status": "closed"}, [near]) == []
    assert dup.candidates({**HERE, "lat": 0.0, "lon": 0.0}, [near]) == []
    found = dup.candidates(HERE, [near, far])
    assert [r["incident_id"] for r in found] == ["far", "near"][::-1]
    assert found[0]["distance_m"] == pytest.approx(5, abs=0.05)
    assert found[0]["hours_apart"] == pytest.approx(3)


@pytest.mark.parametrize(
    "a, b, metres",
    [((32.0, 118.7), (32.0, 118.7), 0.0), ((32.0, 118.7), (32.001, 118.7), 111.2),
     ((32.0, 118.7), (32.0, 118.701), 94.3), ((0.0, 0.0), (0.0, 1.0), 111_195.1)],
)  # fmt: skip
def test_distance(a, b, metres):
    assert dup.distance_m(*a, *b) == pytest.approx(metres, abs=0.1)


@pytest.mark.parametrize("lat", [0.0, 32.0, 60.0])
def test_the_box_holds_every_point_within_the_radius(lat):
    lat0, lat1, lon0, lon1 = dup.box(lat, 118.7)
    for bearing_lat, bearing_lon in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        # the point 50 m away in each direction lies inside the box
        dlat = (lat1 - lat) / 1.01 * bearing_lat
        dlon = (lon1 - 118.7) / 1.01 * bearing_lon
        assert dup.distance_m(lat, 118.7, lat + dlat, 118.7 + dlon) == pytest.approx(50, rel=0.01)
        assert lat0 <= lat + dlat <= lat1 and lon0 <= 118.7 + dlon <= lon1
