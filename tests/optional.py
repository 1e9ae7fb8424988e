"""Optional test dependencies: a test that needs one skips where it is missing, except in CI
(the environment variable CI set), where a missing one fails the run instead of silently
skipping what it guards (the modern-ClickHouse conformance tests on chdb)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def require(module: str) -> ModuleType:
    """The imported module; missing: skip the test, or in CI fail it."""
    if os.environ.get("CI"):
        try:
            return importlib.import_module(module)
        except ImportError as exc:
            pytest.fail(f"{module} is required in CI (pip install -e '.[test]'): {exc}")
    return pytest.importorskip(module)
