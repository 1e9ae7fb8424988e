"""`cityops up --detach` runs `cityops up` again in the background: every option of the stack
must reach it (a dropped `--durable` started a stack whose broker lost its topics on restart)."""

from __future__ import annotations

import pytest

from cityops.deploy.cli import _foreground_up, build_parser


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ([], []),
        (["--durable"], ["--durable"]),
        (["--secure"], ["--secure"]),
        (["--no-dashboard", "--workers", "2"], ["--no-dashboard", "--workers", "2"]),
        (["--simulate", "50"], ["--simulate", "50.0"]),
    ],
)
def test_detached_up_passes_every_stack_option(given, expected):
    args = build_parser().parse_args(["up", "--detach", *given])
    assert _foreground_up(args) == ["up", *expected]
