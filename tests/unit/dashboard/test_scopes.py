"""Street officers and secretaries (三级: 市、区、街道; 书记办): who may have which scope, what each
user's scope is, the SQL term it becomes, and the action check by street."""

from __future__ import annotations

import pytest

from cityops.dashboard.actions import officer_refusal
from cityops.dashboard.auth import User, scope_refusal
from cityops.dashboard.pages.supervision import board_for, tile_texts
from cityops.storage.latest import scope_column, scope_term

# (role, district, street, unit) -> refusal fragment (None: accepted)
SCOPES = [
    ("officer", "320105", None, None, None),
    ("officer", "320105", "320105001", None, None),
    ("officer", "320104", "320105001", None, "not in district 320104"),
    ("officer", None, "32010500", None, "not a street code"),
    ("admin", None, "320105001", None, "--street is for officers"),
    ("admin", None, None, "320105", "--unit is for secretaries"),
    ("secretary", None, None, "320105001002", None),
    ("secretary", None, None, "320105", None),
    ("secretary", None, None, None, "a secretary needs --unit"),
    ("secretary", None, None, "32010500100101", "a secretary needs --unit"),  # a grid
    ("secretary", "320105", None, "320105001", "scoped by --unit only"),
]


@pytest.mark.parametrize("role, district, street, unit, error", SCOPES)
def test_who_may_have_which_scope(role, district, street, unit, error):
    refusal = scope_refusal(role, district, street, unit)
    assert (refusal is None) if error is None else (error in refusal)


USERS = [
    (User("a", "admin"), None, None),
    (User("o", "officer", "320105"), "320105", None),
    (User("s", "officer", "320105", street="320105001"), "320105001", None),
    (User("c", "secretary", unit="320105001002"), "320105001002", "community"),
    (User("d", "secretary", unit="320105"), "320105", "district"),
]


@pytest.mark.parametrize("user, scope, board_level", USERS)
def test_each_users_scope_and_board(user, scope, board_level):
    assert user.scope == scope
    assert board_for(user) == (scope, board_level)
    assert user.may_act == (user.role != "secretary")


def test_a_street_officer_acts_as_the_districts_desk():
    assert User("s", "officer", None, street="320105001").acting_department == "desk_320105"


LEVELS = [("320105", "district"), ("320105001", "street"), ("320105001002", "community")]


@pytest.mark.parametrize("scope, column", LEVELS)
def test_the_scope_restricts_the_column_of_its_level(scope, column):
    assert scope_column(scope) == column
    assert scope_term(scope) == f" AND {column} = %(scope)s"


@pytest.mark.parametrize("scope", ["-", "3201", "32010500100101", "320105' OR 1=1 --"])
def test_any_other_scope_is_refused_never_widened(scope):
    with pytest.raises(ValueError):
        scope_term(scope)


# (scope, incident district, incident street) -> refusal fragment
ACTS = [
    (None, "320105", "320105001", None),
    ("320105", "320105", "320105002", None),
    ("320105001", "320105", "320105001", None),
    ("320105001", "320105", "320105002", "outside street 320105001"),  # same district
    ("320105001", "320104", "320104001", "outside street 320105001"),
    ("320105", "320104", "320104001", "outside district 320105"),
]


@pytest.mark.parametrize("scope, district, street, error", ACTS)
def test_an_officer_acts_in_their_street_or_district_only(scope, district, street, error):
    refusal = officer_refusal(
        actor="x",
        scope=scope,
        department=f"desk_{district}",
        incident_district=district,
        incident_street=street,
    )
    assert (refusal is None) if error is None else (error in refusal)


@pytest.mark.parametrize(
    "data, value, trend",
    [
        ({"supervised": 3, "repeat_rate": 0.2, "repeat_rate_year_ago": 0.1}, "3", "up bad"),
        ({"supervised": 0, "repeat_rate": 0.1, "repeat_rate_year_ago": 0.2}, "0", "down good"),
        ({"supervised": 1, "repeat_rate": None, "repeat_rate_year_ago": 0.2}, "1", "flat"),
    ],
)
def test_the_wall_tile(data, value, trend):
    shown, _, cls = tile_texts(data)
    assert shown == value and cls == f"kpi-delta {trend}"


# `cityops users add` arguments -> (exit code, the saved scope fields or the error fragment)
ADDS = [
    ({"role": "officer", "street": "320105001"}, (0, ("320105", "320105001", None))),
    ({"role": "secretary", "unit": "320105001001"}, (0, (None, None, "320105001001"))),
    ({"role": "secretary", "unit": "320105"}, (0, (None, None, "320105"))),
    ({"role": "officer", "street": "320105999"}, (2, "is not a street code of the registry")),
    ({"role": "officer", "street": "320105"}, (2, "is not a street code of the registry")),
    ({"role": "secretary", "unit": "32010500100101"}, (2, "community, street or district")),
    ({"role": "officer", "district": "320104", "street": "320105001"}, (2, "not in district")),
    ({"role": "admin", "unit": "320105"}, (2, "--unit is for secretaries")),
]


@pytest.mark.parametrize("args, expected", ADDS)
def test_users_add_with_a_street_or_a_unit(tmp_path, monkeypatch, capsys, args, expected):
    import io
    import types

    from cityops.dashboard.auth import add_user_cli, load_users

    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    code = add_user_cli(types.SimpleNamespace(home=tmp_path), "u1", **args)
    assert code == expected[0]
    if code == 0:
        saved = load_users(tmp_path)["u1"]
        assert (saved["district"], saved["street"], saved["unit"]) == expected[1]
    else:
        assert expected[1] in capsys.readouterr().err and load_users(tmp_path) == {}


def test_the_supervised_tiles_digest_changes_with_what_it_shows_only():
    from cityops.dashboard.pages.supervision import tile_digest

    base = {"supervised": 3, "repeat_rate": 0.1, "repeat_rate_year_ago": 0.2, "other": 1}
    assert tile_digest(base) == tile_digest({**base, "other": 2})
    for key, value in (("supervised", 4), ("repeat_rate", 0.11), ("repeat_rate_year_ago", None)):
        assert tile_digest(base) != tile_digest({**base, key: value}), key
