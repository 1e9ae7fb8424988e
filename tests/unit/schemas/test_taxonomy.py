"""Departments and categories: complete, consistent, and with a dispatch desk per district."""

from __future__ import annotations

import re

import pytest

from cityops.schemas.taxonomy import (
    CATEGORIES,
    DEPARTMENTS,
    KINDS,
    category,
    department,
    dispatch_desk,
)

REQUIRED_CATEGORIES = """old_neighbourhood dangerous_housing parking garbage_sorting waterlogging
drainage gas_leak water_supply power_supply gas_supply telecom street_lights road_damage noise
illegal_construction property_mgmt neighbour_dispute public_order traffic_accident rail_transit
fire_hazard elevator food_safety air_pollution water_pollution crowd_safety tree_fall manhole_cover
street_vendor consultation""".split()
REQUIRED_DEPARTMENTS = """hotline12345 urban_mgmt water gas power telecom traffic_police
public_security emergency housing ecology_env market_reg transport fire_rescue metro health
civil_affairs grid_inspect iot video""".split()
DISTRICTS = [
    "320102",
    "320104",
    "320105",
    "320106",
    "320111",
    "320113",
    "320114",
    "320115",
    "320116",
    "320117",
    "320118",
]


def test_taxonomy_covers_what_the_city_faces() -> None:
    assert len(CATEGORIES) >= 30
    assert set(REQUIRED_CATEGORIES) <= set(CATEGORIES)


def test_there_are_at_least_fifteen_departments_plus_desks() -> None:
    desks = [d for d in DEPARTMENTS.values() if d.district is not None]

    assert set(REQUIRED_DEPARTMENTS) <= set(DEPARTMENTS)
    assert len(DEPARTMENTS) - len(desks) >= 15
    assert len(desks) == 11


@pytest.mark.parametrize("code", sorted(CATEGORIES))
def test_category_is_complete_and_consistent(code: str) -> None:
    entry = CATEGORIES[code]

    assert entry.code == code and re.fullmatch(r"[a-z][a-z0-9_]*", code)
    assert entry.name_zh and entry.name_en
    assert entry.lead_department in DEPARTMENTS
    assert all(j in DEPARTMENTS for j in entry.joint_departments)
    assert entry.lead_department not in entry.joint_departments
    assert 1 <= entry.default_severity <= 4
    assert entry.kind in KINDS


def test_joint_handling_for_the_big_cross_department_matters() -> None:
    assert CATEGORIES["waterlogging"].lead_department == "water"
    assert set(CATEGORIES["waterlogging"].joint_departments) == {"urban_mgmt", "traffic_police"}
    assert CATEGORIES["gas_leak"].lead_department == "gas"
    assert {"fire_rescue", "emergency", "public_security"} <= set(
        CATEGORIES["gas_leak"].joint_departments
    )
    assert CATEGORIES["crowd_safety"].lead_department == "public_security"
    assert CATEGORIES["gas_leak"].kind == "emergency_life"
    assert CATEGORIES["water_supply"].kind == "emergency_utility"
    assert CATEGORIES["consultation"].kind == "consultation"


def test_every_sla_kind_is_used() -> None:
    assert {c.kind for c in CATEGORIES.values()} == set(KINDS)


@pytest.mark.parametrize("district", DISTRICTS)
def test_every_district_has_a_dispatch_desk(district: str) -> None:
    desk = dispatch_desk(district)

    assert desk == f"desk_{district}"
    assert DEPARTMENTS[desk].district == district
    assert DEPARTMENTS[desk].name_zh.endswith("城运中心调度台")


def test_desks_match_the_registry_districts(registry) -> None:
    assert [d.code for d in registry.districts()] == DISTRICTS


def test_lookups_return_none_for_unknown_codes() -> None:
    assert department("nasa") is None
    assert category("ufo") is None
    assert department("water").name_zh == "水务局（供水排水）"
    with pytest.raises(KeyError):
        dispatch_desk("310101")
