"""`cityops report` without storage: the policy's limits shown beside the funnel, and the
arguments refused as one line with exit 2."""

from __future__ import annotations

import pytest

from cityops.deploy import cli
from cityops.deploy.report_cli import limit_texts
from cityops.streams.incidents.policy import Policy, policy_from_dict


def test_limits_span_the_policy_table():
    limits = limit_texts(Policy())
    assert limits["accepted"].startswith("15m – 1wd")
    assert limits["resolved"].startswith("1h – 13wd")
    assert limits["callback"] == "3wd"
    faster = policy_from_dict(
        {"sla": {"category": {"elevator": {"accept": "5m", "resolve": "30m"}}}}
    )
    assert limit_texts(faster)["accepted"].startswith("5m – 1wd")
    assert limit_texts(faster)["resolved"].startswith("30m – 13wd")


@pytest.mark.parametrize(
    "argv",
    [["report"], ["report", "daily", "--date", "2026-1-1"], ["report", "daily", "--by", "grid"],
     ["report", "yearly"], ["report", "daily", "--format", "docx"]],
)  # fmt: skip
def test_bad_report_arguments_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as done:
        cli.build_parser().parse_args(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and err.startswith("cityops report")
