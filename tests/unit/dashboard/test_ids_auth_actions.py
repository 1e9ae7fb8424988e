"""The contract's element ids, logins and scopes, and officer actions as CloudEvents."""

import datetime as dt
import json
import os

import pytest

from cityops.dashboard import actions, auth, ids
from cityops.sdk import validated


def test_wall_ids_are_the_contract_names():
    assert ids.KPIS == (
        "kpi-events-today",
        "kpi-open",
        "kpi-joint",
        "kpi-sla-breached",
        "kpi-escalated",
        "kpi-closure-rate",
        "kpi-resolution-rate",
        "kpi-repeat-rate",
    )
    assert (ids.MAP, ids.CHAIN, ids.JOINT_BOARD, ids.TICKER, ids.FRESHNESS) == (
        "map",
        "chain",
        "joint-board",
        "ticker",
        "freshness",
    )


def test_passwords_are_stored_hashed_in_a_private_file(tmp_path):
    auth.save_user(tmp_path, "li", "s3cret-pass", "officer", "320105")
    path = auth.users_path(tmp_path)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert "s3cret-pass" not in path.read_text()
    assert json.loads(path.read_text())["users"]["li"]["password"].startswith(
        ("scrypt:", "pbkdf2:")
    )
    user = auth.authenticate(tmp_path, "li", "s3cret-pass")
    assert user == auth.User("li", "officer", "320105", None)
    assert auth.authenticate(tmp_path, "li", "wrong") is None
    assert auth.authenticate(tmp_path, "nobody", "s3cret-pass") is None


def test_an_officer_is_scoped_to_their_district_and_acts_as_its_desk():
    officer = auth.User("li", "officer", "320105")
    assert officer.scope == "320105" and officer.acting_department == "desk_320105"
    city = auth.User("zhang", "admin")
    assert city.scope is None and city.acting_department == "hotline12345"


def test_bad_users_are_refused(tmp_path):
    with pytest.raises(ValueError):
        auth.save_user(tmp_path, "li", "short", "officer", None)
    with pytest.raises(ValueError):
        auth.save_user(tmp_path, "li", "long-enough", "root", None)


def test_redirects_after_login_stay_on_this_site():
    assert auth._safe_next("https://evil.example/x") == "/"
    assert auth._safe_next("//evil.example/x") == "/"
    assert auth._safe_next("/incidents?district=320105") == "/incidents?district=320105"


@pytest.mark.parametrize(
    "action, event_type",
    [
        ("acknowledge", "city.incident.note.v1"),
        ("urge", "city.incident.note.v1"),
        ("escalate", "city.incident.escalate.v1"),
    ],
)
def test_actions_are_valid_cloudevents(action, event_type):
    now = dt.datetime.now(dt.UTC)
    doc = actions.action_event(
        action,
        incident_id="inc-1",
        partitionkey="320105001",
        department="desk_320105",
        actor="li",
        comment="",
        now=now,
    )
    event = validated(doc, None, now=now)  # the SDK's validation, as for a department
    assert event.partitionkey == "320105001" and event.type == event_type
    assert event.source == "/departments/desk_320105"
    assert json.loads(event.raw)["data"]["action"] == action
    assert event.data.comment  # a default comment says what was done
