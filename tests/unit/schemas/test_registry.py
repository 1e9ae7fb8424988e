"""The city registry: Nanjing's real divisions, the generated grids, and the geography lookups."""

from __future__ import annotations

from collections import Counter

import pytest

from cityops.schemas.registry import CITY_CODE, build_registry
from tests.unit.schemas.conftest import COMMUNITY, DISTRICT, GRID, MICRO_GRID, STREET

CODE_LENGTHS = {"district": 6, "street": 9, "community": 12, "grid": 14, "micro_grid": 16}


def test_counts_match_the_published_figures(registry) -> None:
    counts = registry.counts()

    assert {k: counts[k] for k in ("city", "district", "street", "community", "micro_grid")} == {
        "city": 1,
        "district": 11,
        "street": 100,
        "community": 1251,
        "micro_grid": 40_976,
    }
    assert counts["community"] <= counts["grid"] < counts["micro_grid"]
    assert set(counts) == {"city", "district", "street", "community", "grid", "micro_grid"}


def test_two_fresh_loads_give_identical_units(registry) -> None:
    first, second = build_registry(), build_registry()

    assert list(first.units()) == list(second.units())
    assert list(first.units()) == list(registry.units())


def test_every_micro_grid_has_50_to_100_households(registry) -> None:
    households = [u.households for u in registry.units("micro_grid")]

    assert min(households) >= 50 and max(households) <= 100
    assert len(set(households)) > 40  # spread, not one constant


def test_households_of_a_unit_are_the_sum_below_it(registry) -> None:
    for code in (GRID, COMMUNITY, STREET, DISTRICT, CITY_CODE):
        assert registry.unit(code).households == sum(u.households for u in registry.children(code))


def test_grids_are_comprehensive_or_dedicated(registry) -> None:
    types = Counter(u.grid_type for u in registry.units("grid"))
    dedicated = [u for u in registry.units("grid") if u.grid_type == "dedicated"]

    assert set(types) == {"comprehensive", "dedicated"}
    assert all(u.name_zh.startswith("专属网格（") for u in dedicated)
    assert {u.grid_type for u in registry.units() if u.level != "grid"} == {None}


def test_codes_nest_by_prefix_and_length(registry) -> None:
    for unit in registry.units():
        if unit.level == "city":
            assert unit.code == CITY_CODE and unit.parent is None
            continue
        assert len(unit.code) == CODE_LENGTHS[unit.level]
        if unit.level != "district":
            assert unit.code.startswith(unit.parent)


def test_streets_and_communities_follow_the_file_order(registry) -> None:
    streets = registry.children("320102")

    assert [s.code for s in streets][:2] == ["320102001", "320102002"]
    assert streets[0].name_zh == "梅园新村街道"
    assert registry.children("320102001")[0].name_zh == "梅园新村社区居委会"


def test_chain_runs_from_the_city_to_the_unit(registry) -> None:
    chain = registry.chain(MICRO_GRID)

    assert [u.code for u in chain] == [CITY_CODE, DISTRICT, STREET, COMMUNITY, GRID, MICRO_GRID]
    assert [u.level for u in chain] == [
        "city",
        "district",
        "street",
        "community",
        "grid",
        "micro_grid",
    ]
    assert registry.chain("999") == []


def test_children_and_contains(registry) -> None:
    assert MICRO_GRID in {u.code for u in registry.children(GRID)}
    assert registry.contains(DISTRICT, MICRO_GRID)
    assert registry.contains(MICRO_GRID, MICRO_GRID)
    assert not registry.contains("320105", MICRO_GRID)
    assert not registry.contains(MICRO_GRID, DISTRICT)


def test_units_come_in_code_order(registry) -> None:
    codes = [u.code for u in registry.units("community")]

    assert codes == sorted(codes)
    assert len(codes) == 1251


def test_districts_have_english_names_and_streets_do_not_invent_them(registry) -> None:
    districts = registry.districts()

    assert [d.name_en for d in districts if d.code == "320105"] == ["Jianye"]
    assert all(d.name_en for d in districts)
    assert {s.name_en for s in registry.units("street")} == {None}


def test_each_district_label_point_is_in_that_district(registry) -> None:
    for district in registry.districts():
        assert registry.district_at(*registry.point(district.code)) == district.code


@pytest.mark.parametrize(
    ("lat", "lon"), [(39.9042, 116.4074), (0.0, 0.0), (31.2304, 121.4737), (float("nan"), 118.8)]
)
def test_points_outside_the_city_have_no_district(registry, lat: float, lon: float) -> None:
    assert registry.district_at(lat, lon) is None


def test_every_street_and_community_point_is_inside_its_district(registry) -> None:
    for unit in registry.units():
        if unit.level in ("street", "community"):
            assert registry.district_at(*registry.point(unit.code)) == unit.code[:6], unit.code


def test_grid_and_micro_grid_points_are_inside_their_district(registry) -> None:
    for unit in list(registry.units("micro_grid"))[::97]:
        assert registry.district_at(*registry.point(unit.code)) == unit.code[:6]
        assert registry.district_at(*registry.point(unit.parent)) == unit.code[:6]


def test_points_are_deterministic(registry) -> None:
    fresh = build_registry()

    assert fresh.point(MICRO_GRID) == registry.point(MICRO_GRID)
    assert fresh.point(STREET) == registry.point(STREET)


def test_city_bbox_contains_every_label_point(registry) -> None:
    min_lat, min_lon, max_lat, max_lon = registry.city_bbox()

    for district in registry.districts():
        lat, lon = registry.point(district.code)
        assert min_lat <= lat <= max_lat and min_lon <= lon <= max_lon
