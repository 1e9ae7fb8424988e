"""/returns's pure choices: the window from ?days= and whose returns a user sees (an officer
always their own unit, whatever the query string says)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cityops.dashboard.pages.returns import DEFAULT_DAYS, page_scope, window


@pytest.mark.parametrize(
    "params, days",
    [({}, DEFAULT_DAYS), ({"days": "7"}, 7), ({"days": "366"}, 366), ({"days": "0"}, DEFAULT_DAYS),
     ({"days": "367"}, DEFAULT_DAYS), ({"days": "-1"}, DEFAULT_DAYS),
     ({"days": "7;DROP"}, DEFAULT_DAYS)],
)  # fmt: skip
def test_the_window(params, days):
    assert window(params) == days


@pytest.mark.parametrize(
    "scope, params, seen",
    [
        ("320105", {}, "320105"),
        ("320105", {"district": "320102"}, "320105"),  # an officer asking for another district
        ("320105001", {"district": "320102"}, "320105001"),  # a street officer
        (None, {}, None),  # an admin: the city
        (None, {"district": "320102"}, "320102"),
        (None, {"district": "32010'"}, None),
        (None, {"district": "3201020"}, None),
    ],
)
def test_whose_returns_a_user_sees(scope, params, seen):
    assert page_scope(SimpleNamespace(scope=scope), params) == seen
