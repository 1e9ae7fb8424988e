"""Routing a new matter: initial level and unit, lead and assisting departments, the desk."""

from __future__ import annotations

import pytest

from cityops.streams.incidents.policy import Policy
from cityops.streams.incidents.routing import chain_of, level_above, route
from tests.unit.streams.builders import COMMUNITY, DISTRICT, GRID, MICRO, STREET, a_report


@pytest.mark.parametrize(
    "severity,level,unit",
    [
        (1, "grid", GRID),
        (2, "community", COMMUNITY),
        (3, "street", STREET),
        (4, "district", DISTRICT),
    ],
)
def test_initial_level_follows_severity(severity, level, unit):
    item = a_report("noise", severity)
    dispatch = route(item.report, item.chain, Policy())
    assert (dispatch.level, dispatch.unit_code) == (level, unit)
    assert dispatch.city_informed is (severity == 4)


def test_unknown_grid_starts_at_the_nearest_known_level_above():
    item = a_report("noise", 1, level="street")
    dispatch = route(item.report, item.chain, Policy())
    assert (dispatch.level, dispatch.unit_code) == ("street", STREET)


def test_report_without_street_goes_to_the_district_desk():
    item = a_report("noise", 2, level="district")
    dispatch = route(item.report, item.chain, Policy())
    assert dispatch.desk and dispatch.lead_department == f"desk_{DISTRICT}"
    assert (dispatch.level, dispatch.unit_code) == ("district", DISTRICT)


@pytest.mark.parametrize(
    "category,severity,assists",
    [
        ("waterlogging", 3, ("urban_mgmt", "traffic_police")),
        ("waterlogging", 2, ()),  # below the joint threshold the lead works alone
        ("garbage_sorting", 3, ()),  # no joint departments in the taxonomy
    ],
)
def test_joint_departments_by_category_policy(category, severity, assists):
    item = a_report(category, severity)
    assert route(item.report, item.chain, Policy()).assist_departments == assists


def test_chain_is_derived_from_the_most_specific_code():
    chain = chain_of({"district": DISTRICT, "micro_grid": MICRO})
    assert (chain.street, chain.community, chain.grid) == (STREET, COMMUNITY, GRID)
    assert chain_of({"district": DISTRICT}).street == ""


def test_level_above_walks_the_chain():
    assert [level_above(x) for x in ("grid", "community", "street", "district", "city")] == [
        "community",
        "street",
        "district",
        "city",
        None,
    ]
