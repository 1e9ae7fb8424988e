"""The policy table: defaults, the shipped file, overrides and errors."""

from __future__ import annotations

import pytest

from cityops.streams.incidents.policy import (
    DEFAULT_FILE,
    Duration,
    Policy,
    PolicyError,
    load_policy,
    policy_from_dict,
)


def test_shipped_policy_file_equals_the_defaults():
    assert DEFAULT_FILE.exists()
    assert load_policy() == Policy()


@pytest.mark.parametrize(
    "severity,level", [(1, "grid"), (2, "community"), (3, "street"), (4, "district")]
)
def test_default_levels_by_severity(severity, level):
    assert Policy().level_for(severity) == level


@pytest.mark.parametrize(
    "kind,accept,resolve",
    [
        ("emergency_life", Duration(30, "m"), Duration(2, "h")),
        ("emergency_utility", Duration(2, "h"), Duration(24, "h")),
        ("consultation", Duration(1, "wd"), Duration(3, "wd")),
        ("complaint", Duration(1, "wd"), Duration(13, "wd")),
        ("request", Duration(1, "wd"), Duration(10, "wd")),
    ],
)
def test_default_sla_per_kind(kind, accept, resolve):
    assert Policy().sla_for("x", kind).for_severity(2) == (accept, resolve)


def test_extreme_severity_is_tighter():
    sla = Policy().sla_for("gas_leak", "emergency_life")
    assert sla.for_severity(4) == (Duration(15, "m"), Duration(1, "h"))


def test_overrides_from_a_file(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        '[levels]\n1 = "community"\n[repeat]\nradius_m = 80\n'
        '[sla.category.elevator]\naccept = "10m"\nresolve = "1h"\n'
    )
    policy = load_policy(path)
    assert policy.level_for(1) == "community" and policy.level_for(2) == "community"
    assert policy.repeat_radius_m == 80
    assert policy.sla_for("elevator", "emergency_life").accept == Duration(10, "m")


@pytest.mark.parametrize(
    "doc,message",
    [
        ({"levels": {"1": "village"}}, "levels.1: unknown level"),
        ({"sla": {"complaint": {"accept": "soon"}}}, "sla.complaint.accept"),
        ({"sla": {"category": {"noise": {"accept": "1h"}}}}, "needs both accept and resolve"),
        ({"actions": {"citizen_facing": ["hotline"]}}, "citizen_facing: unknown department"),
        ({"actions": {"citizen_facing": "hotline12345"}}, "citizen_facing: expected a list"),
    ],
)
def test_bad_policy_names_the_key(doc, message):
    with pytest.raises(PolicyError, match=message):
        policy_from_dict(doc)


def test_citizen_facing_departments_from_a_file():
    assert Policy().citizen_facing == ("hotline12345",)
    policy = policy_from_dict({"actions": {"citizen_facing": ["hotline12345", "grid_inspect"]}})
    assert policy.citizen_facing == ("hotline12345", "grid_inspect")
