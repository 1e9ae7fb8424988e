"""The [[notify]] parser: good entries become Targets, bad ones are refused with where and why,
and nothing it reports or represents carries a url or a secret."""

from __future__ import annotations

import pytest

from cityops.streams.notify.config import (
    TRIGGERS,
    ConfigError,
    Target,
    load_targets,
    parse_targets,
    rules_path,
)

HOOK = {"kind": "webhook", "url": "https://hooks.example.org/x?key=K", "secret": "s3cret"}


def test_a_minimal_webhook_listens_to_everything_everywhere():
    [target] = parse_targets({"notify": [HOOK]})
    assert target.on == TRIGGERS and target.districts == ()
    assert target.name.startswith("webhook-") and "example" not in target.name


def test_the_rule_and_feed_tables_are_not_read():
    document = {"rule": [{"name": "x"}], "feed": [{"department": "iot"}], "notify": [HOOK]}
    assert len(parse_targets(document)) == 1
    assert parse_targets({"rule": [{"name": "x"}]}) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"kind": "sms"}, "kind must be one of"),
        ({"url": "ftp://x"}, "url must be"),
        ({"secret": ""}, "needs a secret"),
        ({"on": ["extreme", "sunrise"]}, "unknown trigger(s) sunrise"),
        ({"on": "extreme"}, "on must be a list"),
        ({"districts": ["3201"]}, "6-digit adcodes"),
        ({"max_attempts": 0}, "max_attempts must be"),
        ({"max_attempts": 2.5}, "whole number"),
        ({"timeout_seconds": -1}, "timeout_seconds must be"),
        ({"colour": "red"}, "unknown key(s) colour"),
    ],
)
def test_a_bad_entry_is_refused_with_its_place_and_reason(change, reason):
    with pytest.raises(ConfigError) as err:
        parse_targets({"notify": [{"kind": "wecom", "url": "https://a"}, {**HOOK, **change}]})
    assert "[[notify]] #2" in str(err.value) and reason in str(err.value)
    assert "s3cret" not in str(err.value) and "key=K" not in str(err.value)


def test_robots_may_go_without_a_secret():
    for kind in ("wecom", "dingtalk"):
        [target] = parse_targets({"notify": [{"kind": kind, "url": "https://robot"}]})
        assert target.secret == ""


def test_two_targets_with_one_name_are_refused():
    with pytest.raises(ConfigError, match="named 'desk'"):
        parse_targets({"notify": [{**HOOK, "name": "desk"}, {**HOOK, "name": "desk"}]})


@pytest.mark.parametrize(
    ("on", "districts", "trigger", "district", "wanted"),
    [
        (TRIGGERS, (), "extreme", "320105", True),
        (("breached",), (), "extreme", "320105", False),
        (TRIGGERS, ("320105",), "escalated", "320105", True),
        (TRIGGERS, ("320105",), "escalated", "320106", False),
        (("rule",), ("320102", "320105"), "rule", "320102", True),
    ],
)
def test_wants_filters_by_trigger_and_district(on, districts, trigger, district, wanted):
    target = Target("webhook", "https://x", "s", tuple(on), tuple(districts), "t")
    assert target.wants(trigger, district) is wanted


def test_url_and_secret_stay_out_of_the_repr():
    [target] = parse_targets({"notify": [HOOK]})
    assert "s3cret" not in repr(target) and "hooks.example.org" not in repr(target)


def test_the_file_is_found_through_the_environment(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[[notify]]\nkind = "dingtalk"\nurl = "https://robot"\non = ["extreme"]\n')
    assert rules_path({"CITYOPS_RULES_FILE": str(path)}) == path
    assert rules_path({}).name == "rules.toml"
    [target] = load_targets(path)
    assert target.kind == "dingtalk" and target.on == ("extreme",)
    assert load_targets(tmp_path / "missing.toml") == []
    path.write_text("[[notify]\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_targets(path)


def test_the_shipped_rules_file_has_no_active_target():
    assert load_targets(rules_path({})) == []
