"""The benchmarks live in bench/ and only there: every `cityops bench NAME` is a suite module of
bench/, and no package below the launcher imports bench/."""

from __future__ import annotations

import argparse
import ast
import importlib
from pathlib import Path

import pytest

from cityops.bench.run import SUITES, suite
from cityops.deploy.cli import build_parser

ROOT = Path(__file__).resolve().parents[3]
LOWER_PACKAGES = ("schemas", "storage", "streams", "dashboard", "deploy")
# The one way down to up: the CLI dispatches `cityops bench` to the bench package.
ALLOWED = {ROOT / "deploy" / "cli.py"}


def bench_choices() -> set[str]:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    bench = commands.choices["bench"]
    name = next(a for a in bench._actions if a.dest == "name")
    return set(name.choices)


def test_every_cli_suite_is_a_bench_module_with_a_suite_function():
    assert bench_choices() == {*SUITES, "all"}
    for name, module in SUITES.items():
        assert module.startswith("cityops.bench.")
        assert callable(suite(name)), name


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", LOWER_PACKAGES)
def test_nothing_below_the_launcher_imports_bench(package):
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / package).rglob("*.py"))
        if path not in ALLOWED
        and any(
            name == "cityops.bench" or name.startswith("cityops.bench.")
            for name in imports_of(path)
        )
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "old",
    [
        "cityops.deploy.bench",
        "cityops.deploy.bench_engine",
        "cityops.deploy.bench_suites",
        "cityops.deploy.profile",
        "cityops.dashboard.bench",
        "cityops.schemas.bench",
        "cityops.streams.publish.bench",
    ],
)
def test_the_old_benchmark_modules_are_gone(old):
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)
