"""District lookup by coordinates without gaps: the simplified boundaries leave slivers along
shared borders; a point there belongs to the nearest district, a point far out to none."""

from __future__ import annotations

import itertools
import math

import pytest

from cityops.schemas.events import InvalidEvent, parse_event
from cityops.schemas.geo import SNAP_TOLERANCE_M
from tests.unit.schemas.conftest import NOW, a_report, encoded

XUANWU, QINHUAI, JIANYE, GULOU = "320102", "320104", "320105", "320106"
XINJIEKOU = (32.0415, 118.7845)


def test_xinjiekou_the_city_centre_is_in_the_city(registry) -> None:
    # Xinjiekou is where Xuanwu, Qinhuai and Gulou meet; in the data the point lies in no
    # polygon, 27 m from Xuanwu's, 48 m from Gulou's and 80 m from Qinhuai's. The divisions
    # data agree: 新街口街道 is a street of Xuanwu (320102002), not of Qinhuai.
    (street,) = [u for u in registry.units("street") if u.name_zh == "新街口街道"]
    assert street.parent == XUANWU
    assert registry.district_at(*XINJIEKOU) == XUANWU


# Points in the slivers between simplified polygons (each in no polygon today), and the district
# whose polygon is nearest.
GAP_POINTS = [
    (XINJIEKOU, XUANWU),
    ((31.991, 118.8508), "320115"),  # Qinhuai | Jiangning: 40 m and 80 m
    ((32.012, 118.7596), "320114"),  # Jianye | Yuhuatai: 30 m and 29 m
    ((32.041, 118.7812), QINHUAI),  # Qinhuai | Gulou: 6 m and 106 m
    ((32.085, 118.72), JIANYE),  # Jianye | Pukou: 25 m and 64 m
    ((32.089, 118.7956), XUANWU),  # Xuanwu | Gulou: 18 m and 38 m
    ((32.095, 118.7992), GULOU),  # Gulou | Qixia: 35 m and 56 m
]


@pytest.mark.parametrize(("point", "district"), GAP_POINTS)
def test_gap_points_go_to_the_nearest_district(registry, point, district) -> None:
    assert registry.district_at(*point) == district


def test_no_downtown_point_falls_between_districts(registry) -> None:
    # a 120 × 120 lattice over the old city and its neighbours (about 13 km × 13 km)
    lats = [31.98 + i * 0.001 for i in range(120)]
    lons = [118.72 + j * 0.0012 for j in range(120)]
    missing = [(lat, lon) for lat in lats for lon in lons if registry.district_at(lat, lon) is None]
    assert missing == []


def _shared_border_points(shapes, a, b, within_m=150.0):
    """Vertices of district a's polygon within `within_m` of district b's (and not of a third:
    no tripoints), and the midpoints of a's edges between two such vertices: points on the
    border the two share."""
    others = [c.code for c in shapes._districts if c.code not in (a.code, b.code)]
    points = []
    for ring in a.rings:
        near = [
            shapes.distance_m(y, x, b.code) <= within_m
            and all(shapes.distance_m(y, x, c) > within_m for c in others)
            for x, y in ring
        ]
        points.extend(vertex for vertex, ok in zip(ring, near, strict=True) if ok)
        points.extend(
            ((x1 + x2) / 2, (y1 + y2) / 2)
            for ((x1, y1), ok1), ((x2, y2), ok2) in itertools.pairwise(zip(ring, near, strict=True))
            if ok1 and ok2
        )
    return points


def test_points_on_every_shared_border_resolve_to_one_of_the_two(registry) -> None:
    shapes = registry._shapes
    pairs = 0
    for a, b in itertools.permutations(shapes._districts, 2):
        points = _shared_border_points(shapes, a, b)
        if not points:
            continue
        pairs += 1
        for lon, lat in points:
            assert registry.district_at(lat, lon) in (a.code, b.code), (a.code, b.code, lat, lon)
            # 20 m off the border along both axes: still in the city
            for dlat, dlon in ((2e-4, 0), (-2e-4, 0), (0, 2e-4), (0, -2e-4)):
                assert registry.district_at(lat + dlat, lon + dlon) is not None, (lat, lon)
    assert pairs >= 2 * 20  # Nanjing's 11 districts share more than 20 borders


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (39.9042, 116.4074),  # Beijing
        (31.2304, 121.4737),  # Shanghai
        (32.0, 117.9),  # Anhui, 45 km west of Pukou
        (31.2281 - 0.02, 118.9),  # 2.2 km south of the city's southernmost latitude
        (float("nan"), 118.8),
        (32.0, float("inf")),
    ],
)
def test_points_far_outside_still_have_no_district(registry, lat, lon) -> None:
    assert registry.district_at(lat, lon) is None


def test_the_snap_stops_at_the_tolerance(registry) -> None:
    # due west of the city's westernmost vertex, just within and just beyond the tolerance
    shapes = registry._shapes
    lon0, lat0 = min(p for d in shapes._districts for r in d.rings for p in r)
    metres_per_degree = 111_320.0 * math.cos(math.radians(lat0))
    inside = lon0 - (SNAP_TOLERANCE_M - 50) / metres_per_degree
    beyond = lon0 - (SNAP_TOLERANCE_M + 50) / metres_per_degree
    assert registry.district_at(lat0, inside) is not None
    assert registry.district_at(lat0, beyond) is None


def test_generated_points_stay_strictly_inside(registry) -> None:
    shapes = registry._shapes
    for unit in list(registry.units("street"))[::7]:
        assert shapes.strict_district_at(*registry.point(unit.code)) == unit.code[:6]


# -- the validator: coordinates near a border may name either neighbour ---------------------
def _report_at(district: str, lat: float, lon: float) -> bytes:
    return encoded(
        a_report(
            {
                "partitionkey": district,
                "data.location": {"district": district, "lat": lat, "lon": lon},
            }
        )
    )


@pytest.mark.parametrize("district", [XUANWU, QINHUAI, GULOU])
def test_a_report_at_xinjiekou_may_name_any_district_that_meets_there(registry, district) -> None:
    event = parse_event(_report_at(district, *XINJIEKOU), now=NOW, registry=registry)
    assert event.data.location.district == district


def test_a_report_far_from_the_district_it_names_is_refused(registry) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(_report_at(JIANYE, *XINJIEKOU), now=NOW, registry=registry)
    assert str(caught.value) == (
        f'data.location: coordinates {XINJIEKOU} are in district "{XUANWU}", not "{JIANYE}"'
    )
