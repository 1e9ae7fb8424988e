"""The rules file (CONTRACT §13): the shipped one loads, and every mistake is refused at start with
an error that names the entry and the key."""

# ruff: noqa: E501 - the table of bad files reads best one case a line
from __future__ import annotations

import pytest

from cityops.streams.readings.rules import DEFAULT_FILE, RulesError, load_rules, parse_rules

GOOD_RULE = """
[[rule]]
name = "waterlogging-level"
metric = "water_level"
above = 0.30
for_seconds = 600
clear = 0.20
category = "waterlogging"
severity = 3
"""


def test_the_shipped_rules_file_loads_with_the_contract_example():
    rules = load_rules(DEFAULT_FILE)
    water = rules.for_metric("water_level")[0]
    assert (water.name, water.direction, water.threshold, water.for_seconds, water.clear) == (
        "waterlogging-level", "above", 0.30, 600, 0.20,
    )  # fmt: skip
    assert (water.category, water.severity, water.departments) == ("waterlogging", 3, ("iot",))
    assert rules.feed("iot") is not None and rules.feed("iot").silent_after_seconds == 300


def test_a_below_rule_and_a_feed_parse():
    rules = parse_rules(
        '[[rule]]\nname="p"\nmetric="pressure_kpa"\nbelow=150\nclear=180\ncategory="water_supply"\n'
        '[[feed]]\ndepartment="hotline12345"\nsilent_after_seconds=600\ndistrict="320105"\n'
    )
    (rule,) = rules.rules
    assert (rule.direction, rule.threshold, rule.clear, rule.for_seconds) == ("below", 150, 180, 0)
    assert rule.severity == 2  # the category's default
    assert rules.feeds[0].district == "320105"


BAD = {
    "not TOML": ("[[rule]\nname=", "not valid TOML"),
    "rule without a name": ("[[rule]]\nmetric='x'\nabove=1\ncategory='waterlogging'", "`name` is required"),
    "both above and below": (GOOD_RULE + "below = 0.1\n", "exactly one of `above` or `below`"),
    "neither above nor below": (GOOD_RULE.replace("above = 0.30\n", ""), "exactly one of"),
    "clear beyond the threshold": (GOOD_RULE.replace("clear = 0.20", "clear = 0.5"), "`clear` (0.5) must not be above"),
    "threshold not a number": (GOOD_RULE.replace("above = 0.30", 'above = "high"'), "`above` must be a number"),
    "negative duration": (GOOD_RULE.replace("600", "-1"), "`for_seconds` must not be negative"),
    "unknown category": (GOOD_RULE.replace('"waterlogging"', '"flood"'), 'unknown category "flood"'),
    "severity out of range": (GOOD_RULE.replace("severity = 3", "severity = 9"), "`severity` must be between 1 and 4"),
    "unknown department": (GOOD_RULE + 'departments = ["nobody"]\n', 'unknown department "nobody"'),
    "a name twice": (GOOD_RULE + GOOD_RULE, '`name` "waterlogging-level" appears twice'),
    "feed of an unknown department": ('[[feed]]\ndepartment="x"\nsilent_after_seconds=1', 'unknown department "x"'),
    "feed without its interval": ('[[feed]]\ndepartment="iot"', "`silent_after_seconds` is required"),
    "feed interval zero": ('[[feed]]\ndepartment="iot"\nsilent_after_seconds=0', "must be above 0"),
    "feed in no district": ('[[feed]]\ndepartment="iot"\nsilent_after_seconds=5\ndistrict="1"', "`district`"),
    "rule as a single table": ("[rule]\nname='x'", "must be an array of tables"),
}  # fmt: skip


@pytest.mark.parametrize(("text", "error"), BAD.values(), ids=BAD.keys())
def test_a_bad_rules_file_is_refused_naming_what_is_wrong(text, error):
    with pytest.raises(RulesError) as refused:
        parse_rules(text, "rules.toml")
    assert error in str(refused.value)
    assert str(refused.value).startswith("rules.toml")


def test_a_missing_file_is_refused_with_its_path(tmp_path):
    with pytest.raises(RulesError, match="cannot read the rules file"):
        load_rules(tmp_path / "absent.toml")
