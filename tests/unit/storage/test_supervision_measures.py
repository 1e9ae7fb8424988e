"""The supervision measures (storage/measures.py, 书记督办 and 小事不出网格): each condition as a
table, the board's order, and the SQL of storage/supervision_queries.py equal to the in-memory
twin on the same stored incidents on a current ClickHouse (chdb), scope included."""

from __future__ import annotations

import itertools
import time

import pytest

from cityops.storage import measures
from cityops.storage import supervision_queries as sq
from cityops.storage.measures import SupervisionState as S
from tests.e2e.builders import an_incident
from tests.optional import require

NOW = int(time.time())

STATES = [
    (S("dispatched", "grid"), {"reported"}),
    (S("reopened", "street", "community"), {"reported", "supervised"}),
    (S("closed", "street", "street"), {"reported", "done"}),  # supervised, yet done
    (S("closed", "grid", "", 2), {"reported", "done", "kept_in_grid", "repeat"}),
    (S("resolved", "micro_grid"), {"reported", "done", "kept_in_grid"}),
    (S("callback_overdue", "community"), {"reported", "done"}),  # escalated above the grid
    (S("in_progress", "district", "district", 7), {"reported", "supervised", "repeat"}),
]


@pytest.mark.parametrize("state, holding", STATES)
def test_each_condition_holds_exactly_where_defined(state, holding):
    names = {n for n, c in measures.SUPERVISION_CONDITIONS.items() if c.holds(state)}
    assert names == holding


def test_a_merged_duplicate_is_in_no_supervision_count():
    merged = [("x", s._replace(merged=True)) for s, _ in STATES]
    assert measures.supervision_counts(merged) == {
        "x": dict.fromkeys(measures.SUPERVISION_NAMES, 0)
    }


def test_rates_and_their_denominators():
    counts = measures.supervision_counts(("x", s) for s, _ in STATES)["x"]
    assert measures.supervision_rate(counts, "grid_share") == pytest.approx(2 / 4)
    assert measures.supervision_rate(counts, "repeat_complaint_rate") == pytest.approx(2 / 7)
    empty = dict.fromkeys(measures.SUPERVISION_NAMES, 0)
    assert measures.supervision_rate(empty, "grid_share") is None


def row(iid, supervision, status, due, level="street"):
    return {"incident_id": iid, "supervision": supervision, "status": status,
            "resolve_due": due, "level": level}  # fmt: skip


BOARD = [
    row("a", "community", "reopened", NOW + 50),
    row("b", "street", "reopened", NOW + 10),
    row("c", "street", "reopened", NOW - 10),  # overdue
    row("d", "street", "closed", NOW - 99),  # done: never overdue, after the open ones
    row("e", "district", "callback_overdue", NOW + 99),  # an unanswered callback is overdue
    row("f", "district", "in_progress", NOW + 5),
]


def test_the_board_is_per_level_overdue_first():
    ordered = sq.board_order([dict(r) for r in BOARD], NOW)
    assert [r["incident_id"] for r in ordered] == ["e", "f", "c", "b", "d", "a"]
    assert [r["overdue"] for r in ordered] == [True, False, True, False, False, False]


@pytest.mark.parametrize(
    "unit, level", [("320105", "district"), ("320105001", "street"), ("320105001002", "community")]
)
def test_a_secretary_owns_the_board_of_the_units_level(unit, level):
    assert sq.secretary_level(unit) == level


def test_a_unit_of_another_shape_has_no_board():
    with pytest.raises(ValueError, match="not a district, street or community"):
        sq.secretary_level("3201050010")


# -- SQL against the twin -------------------------------------------------------------------------
STREETS = ("320105001", "320105002", "320102001")


def _incidents() -> list[dict]:
    rows = []
    combos = itertools.product(
        ("reopened", "closed", "resolved", "in_progress"),
        ("grid", "micro_grid", "street"),
        ("", "community", "street"),
        (0, 2),  # repeat complaints
        STREETS,
        (NOW - 3600, NOW - sq.YEAR - 3600),  # this period, the same period a year before
    )
    for n, (status, level, supervision, repeats, street, reported) in enumerate(combos):
        base = {"incident_id": f"s{n}", "reported_at": reported, "district": street[:6],
                "street": street, "level": level}  # fmt: skip
        extra = {"callback": "", "unsolved": 0, "returns": 0}
        # an older version that would count otherwise
        rows.append(
            {**an_incident(**base, status="dispatched"), **extra, "supervision": "",
             "merged_into": ""}
        )  # fmt: skip
        rows.append(
            {
                **an_incident(**base, version=2, status=status, repeat_count=repeats),
                **extra,
                "supervision": supervision,
                "community": street + "001",
                # every seventh one merged into another incident (并单): counted nowhere
                "merged_into": "s0" if n % 7 == 3 else "",
            }
        )
    return rows


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    require("chdb.session")
    from tests.unit.storage.test_queries_modern import insert, migrated

    c = migrated(tmp_path_factory.mktemp("chdb"))
    insert(c, "incidents", _incidents())
    yield c
    c.session.close()


def _latest(scope: str | None = None) -> list[dict]:
    latest = {r["incident_id"]: r for r in _incidents()}  # version 2 comes last
    return [r for r in latest.values() if not scope or r["street"].startswith(scope)]


def _state(r) -> S:
    return S(r["status"], r["level"], r["supervision"], r["repeat_count"], r["merged_into"] != "")


@pytest.mark.parametrize("scope", [None, "320105", "320105002"])
def test_the_wall_tile_equals_the_twin(client, scope):
    tile = sq.wall_tile(client, "db", now=NOW, scope=scope)
    periods = measures.supervision_counts(
        ("now" if r["reported_at"].timestamp() >= NOW - 30 * sq.DAY else "year_ago", _state(r))
        for r in _latest(scope)
    )
    assert tile["supervised"] == sum(c["supervised"] for c in periods.values()) > 0
    rate = measures.supervision_rate
    assert tile["repeat_rate"] == pytest.approx(rate(periods["now"], "repeat_complaint_rate"))
    assert tile["repeat_rate_year_ago"] == pytest.approx(
        rate(periods["year_ago"], "repeat_complaint_rate")
    )


@pytest.mark.parametrize("scope", [None, "320105001"])
def test_the_grid_share_per_street_equals_the_twin(client, scope):
    since = NOW - 86400
    twin = measures.supervision_counts(
        (r["street"], _state(r)) for r in _latest(scope) if r["reported_at"].timestamp() >= since
    )
    sql = {r["street"]: r for r in sq.grid_share(client, "db", since=since, scope=scope)}
    assert set(sql) == set(twin) and twin
    for street, counts in twin.items():
        assert sql[street]["grid_share"] == pytest.approx(
            measures.supervision_rate(counts, "grid_share")
        )


def test_the_board_sees_its_scope_and_level_only(client):
    everything = sq.board(client, "db", now=NOW)
    street = sq.board(client, "db", now=NOW, scope="320105002", level="street")
    assert street and all(
        r["street"] == "320105002" and r["supervision"] == "street" for r in street
    )
    assert len(everything) > len(street)
    assert {r["supervision"] for r in everything} == {"community", "street"}
    community = sq.board(client, "db", now=NOW, scope="320105002001")
    assert community and all(r["community"] == "320105002001" for r in community)
    assert sq.board(client, "db", now=NOW, scope="320105002999") == []


def test_the_summary_counts_no_merged_duplicate(client):
    """The wall's supervision summary (open, overdue, closed per level and district) leaves the
    merged duplicates out, as the twins do."""
    kept = [r for r in _latest() if r["supervision"] and r["merged_into"] == ""]
    expected = sq.summary_counts(
        [(r["supervision"], r["status"], r["district"], int(r["resolve_due"].timestamp()))
         for r in kept],
        NOW,
    )  # fmt: skip
    assert sq.summary(client, "db", now=NOW) == expected
    assert len(kept) < len([r for r in _latest() if r["supervision"]])
