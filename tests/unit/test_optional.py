"""tests/optional.py: a missing optional test dependency skips locally and fails in CI."""

from __future__ import annotations

import pytest

from tests.optional import require

MISSING = "cityops_no_such_module"


def test_a_missing_module_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require(MISSING)


@pytest.mark.parametrize("ci", ["true", "1"])
def test_a_missing_module_fails_in_ci(monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match=MISSING):
        require(MISSING)


@pytest.mark.parametrize("ci", [None, "true"])
def test_a_present_module_is_returned(monkeypatch, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    assert require("json").dumps([1]) == "[1]"
