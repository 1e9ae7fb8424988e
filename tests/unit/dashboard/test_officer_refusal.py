"""Who may act from the dashboard: an officer in their own district, under their own name, as a
known department; a district's desk only for its district (from the attacker's side)."""

from __future__ import annotations

import pytest

from cityops.dashboard.actions import officer_refusal
from cityops.dashboard.auth import User

# (user, incident district) -> start of the refusal, or None (allowed)
CASES = [
    (User("jianye", "officer", "320105"), "320105", None),
    (User("jianye", "officer", "320105"), "320102", "the incident is in district 320102, outside"),
    (User("admin", "admin"), "320102", None),  # city-wide, as the 12345 hotline
    (User("ops", "admin", None, "desk_320105"), "320105", None),
    (User("ops", "admin", None, "desk_320105"), "320102", "desk_320105 acts only for district"),
    (User("mixed", "officer", "320105", "desk_320102"), "320105", "desk_320102 acts only for"),
    (User("odd", "officer", "320105", "no_such_dept"), "320105", "unknown acting department"),
    (User("water-officer", "officer", "320105", "water"), "320105", None),
    (User("", "officer", "320105"), "320105", "an action needs the officer's user name"),
]


@pytest.mark.parametrize("user,district,refusal", CASES)
def test_officer_refusal(user, district, refusal):
    found = officer_refusal(
        actor=user.name,
        scope=user.scope,
        department=user.acting_department,
        incident_district=district,
    )
    if refusal is None:
        assert found is None
    else:
        assert found is not None and found.startswith(refusal), found
