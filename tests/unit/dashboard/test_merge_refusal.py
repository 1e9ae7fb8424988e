"""Who may merge from the dashboard (dashboard/pages/incident_duplicates.py `merge_refusal`), as a
table: the officer's scope over both incidents, the desk, the same street, not into itself."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cityops.dashboard.pages.incident_duplicates import merge_refusal


def _inc(incident_id, district="320105", street="320105001"):
    return {"incident_id": incident_id, "district": district, "street": street}


J1, J2 = _inc("320105001-a"), _inc("320105001-b")
J_OTHER_STREET = _inc("320105002-c", street="320105002")
X1 = _inc("320102001-d", "320102", "320102001")


def _user(scope, name="u"):
    return SimpleNamespace(name=name, scope=scope, acting_department="urban_mgmt")


@pytest.mark.parametrize(
    "user, inc, into, desk, expected",
    [
        (_user("320105"), J1, J2, "desk_320105", None),
        (_user(None), J1, J2, "desk_320105", None),  # a city-wide officer for the district desk
        (_user("320105"), J1, X1, "desk_320105", "outside district 320105"),
        (_user("320102"), J1, J2, "desk_320102", "outside district 320102"),
        (_user(None), J1, X1, "desk_320105", "desk_320105 acts only for district 320105"),
        (_user("320105001"), J1, J_OTHER_STREET, "desk_320105", "outside street 320105001"),
        (_user("320105"), J1, J_OTHER_STREET, "desk_320105", "only incidents of one street"),
        (_user("320105"), J1, J1, "desk_320105", "cannot merge an incident into itself"),
        (_user("320105"), J1, J2, None, "only the district's dispatch desk merges"),
        (_user("320105", name=""), J1, J2, "desk_320105", "needs the officer's user name"),
    ],
)
def test_who_may_merge(user, inc, into, desk, expected):
    refusal = merge_refusal(user, inc, into, desk)
    if expected is None:
        assert refusal is None
    else:
        assert refusal is not None and expected in refusal, refusal
