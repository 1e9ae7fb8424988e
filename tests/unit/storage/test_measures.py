"""Each measure's SQL and its in-memory twin agree: per condition on a table of states, and as
counters on the same stored incidents, with the wall's SQL counters and the shared `measures`
view (migration 14) on a current ClickHouse (chdb). The same counters on 18.16 against the wall's
cache: tests/integration/test_snapshot_clickhouse.py."""

from __future__ import annotations

import itertools
import time

import pytest

from cityops.storage import measures
from cityops.storage import wall_queries as wq
from cityops.storage.latest import restore_states_sql
from cityops.storage.measures import State
from tests.e2e.builders import an_incident
from tests.optional import require

NOW = int(time.time())

STATES = [
    # (state, conditions that hold)
    (State("dispatched", "street"), {"open", "level_street", "low_level"}),
    (State("accepted", "city", joint=True), {"open", "level_city", "joint"}),
    (
        State("accepted", "micro_grid", breached=True),
        {"open", "level_grid", "low_level", "breached"},
    ),  # fmt: skip
    (
        State("escalated", "district", escalated=True, repeat=True),
        {"open", "level_district", "escalated", "repeat"},
    ),  # fmt: skip
    (State("resolved", "community"), {"done", "level_community", "low_level"}),
    (State("closed", "grid"), {"done", "closed", "actually_resolved", "level_grid", "low_level"}),
    (State("closed", "grid", reopened=True), {"done", "closed", "level_grid", "low_level"}),
    (State("closed", "city", satisfied=False), {"done", "closed", "level_city"}),
]


@pytest.mark.parametrize("state, holding", STATES)
def test_each_condition_holds_exactly_where_defined(state, holding):
    assert {name for name, c in measures.CONDITIONS.items() if c.holds(state)} == holding


def test_a_closed_incident_adds_to_the_window_only():
    opened, win = measures.contribution(State("closed", "street"))
    assert opened is None
    assert dict(zip(measures.WIN_NAMES, win, strict=True)) == {
        "win": 1, "win_closed": 1, "win_done": 1, "win_actual": 1, "win_repeat": 0, "win_low": 1,
    }  # fmt: skip


def test_an_open_joint_incident_adds_to_open_joint_and_its_level():
    opened, win = measures.contribution(State("accepted", "grid", joint=True))
    counted = {name for name, v in zip(measures.OPEN_NAMES, opened, strict=True) if v}
    assert counted == {"open", "joint", "lvl_grid"}
    assert win[0] == 1 and sum(win) == 1


def test_a_merged_duplicate_counts_in_nothing():
    """并单: the duplicate closed by a merge is no matter of its own (its reports count in the
    incident it was merged into); the same closed incident unmerged counts as before."""
    assert measures.contribution(State("closed", "street", merged=True)) == (
        None,
        (0,) * len(measures.WIN_NAMES),
    )
    opened, win = measures.contribution(State("closed", "street"))
    assert opened is None and dict(zip(measures.WIN_NAMES, win, strict=True))["win_actual"] == 1
    assert measures.report_counts([("d", State("closed", "street", merged=True))]) == {
        "d": dict.fromkeys(measures.REPORT_NAMES, 0)
    }
    # merged while open (the twin's rule does not depend on the status)
    assert measures.contribution(State("accepted", "grid", joint=True, merged=True))[0] is None


def test_rates_are_none_without_a_denominator():
    counters = dict.fromkeys(measures.COUNTER_NAMES, 0) | {"win": 4, "win_closed": 1}
    assert measures.rate(counters, "closure_rate") == 0.25
    assert measures.rate(counters, "resolution_rate") is None
    assert measures.rate(counters, "closure_rate", yesterday=True) is None


# -- the same data through SQL, the twin and the view (current ClickHouse) -----------------------


def _incidents() -> list[dict]:
    """Incidents over every combination that moves a measure, each with an older version that
    would count differently, reported in the last 24 hours; each combination once as a matter of
    its own and once merged into another incident (并单) in its latest version."""
    rows = []
    combos = itertools.product(
        ("dispatched", "resolved", "closed"),
        ("city", "street", "community", "grid", "micro_grid"),
        ((0, None), (1, None), (0, 0), (0, 1)),  # (reopened, satisfied)
        (0, 1),  # joint, breaches, escalations, repeats all at once
        ("", "m0"),  # merged_into
    )
    for n, (status, level, (reopened, satisfied), flag, merged_into) in enumerate(combos):
        base = {"incident_id": f"m{n}", "reported_at": NOW - 3600 - n, "level": level}
        rows.append(
            {**an_incident(**base, status="closed", updated_at=NOW - 3000), "merged_into": ""}
        )
        latest = an_incident(
            **base,
            version=2,
            status=status,
            joint=flag,
            breaches=flag,
            escalations=flag,
            repeat_count=2 * flag,
            reopened=reopened,
            satisfied=satisfied,
            updated_at=NOW - 2000,
        )
        rows.append({**latest, "merged_into": merged_into})
    return rows


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    require("chdb.session")  # only these tests need chdb; skips where missing, fails in CI
    from tests.unit.storage.test_queries_modern import insert, migrated

    c = migrated(tmp_path_factory.mktemp("chdb"))
    insert(c, "incidents", _incidents())
    yield c
    c.session.close()


def _twin_totals() -> dict[str, int]:
    """The in-memory twin over the latest version of every incident."""
    latest = {r["incident_id"]: r for r in _incidents()}  # version 2 comes last
    totals = dict.fromkeys(measures.OPEN_NAMES + measures.WIN_NAMES, 0)
    for r in latest.values():
        state = State(
            r["status"],
            r["level"],
            joint=bool(r["joint"]),
            breached=r["breaches"] > 0,
            escalated=r["escalations"] > 0,
            repeat=r["repeat_count"] > 0,
            reopened=r["reopened"] > 0,
            satisfied=r["satisfied"] in (None, 1),
            merged=r["merged_into"] != "",
        )
        opened, win = measures.contribution(state)
        for name, v in zip(measures.OPEN_NAMES, opened or (), strict=False):
            totals[name] += v
        for name, v in zip(measures.WIN_NAMES, win, strict=True):
            totals[name] += v
    return totals


def test_the_wall_sql_counters_equal_the_twin(client):
    sql = wq.incident_counters(client, "db", now=NOW).total
    twin = _twin_totals()
    # 240 incidents stored, 120 of them merged duplicates
    assert twin["win"] == 120 and 0 < twin["win_actual"] < twin["win_closed"] < twin["win_done"]
    assert {name: sql[name] for name in twin} == twin


def test_the_shared_measures_view_agrees_with_the_module(client):
    (row,) = client.execute(
        "SELECT incidents, closed, resolved_or_closed, actually_resolved, with_repeats, "
        "resolved_at_grid + resolved_at_community + resolved_at_street, closure_rate, "
        "resolution_rate, repeat_rate, street_or_below_share FROM db.measures"
    )
    twin = _twin_totals()
    expected = (
        twin["win"], twin["win_closed"], twin["win_done"], twin["win_actual"],
        twin["win_repeat"], twin["win_low"],
    )  # fmt: skip
    assert tuple(int(v) for v in row[:6]) == expected
    for value, rate in zip(row[6:], ("closure_rate", "resolution_rate", "repeat_rate",
                                     "street_or_below_share"), strict=True):  # fmt: skip
        assert float(value) == pytest.approx(measures.rate(twin, rate))


def test_the_restore_reads_open_and_recently_closed_incidents(client):
    client.session.query(
        "INSERT INTO db.incidents (incident_id, status, version, closed_at, state) VALUES "
        f"('r1', 'dispatched', 1, NULL, 'open'), ('r2', 'closed', 1, toDateTime({NOW - 60}), "
        f"'recent'), ('r3', 'closed', 1, toDateTime({NOW - 90 * 86400}), 'old')"
    )
    # (the engine binds a datetime; the chdb stand-in has no server time zone to format one)
    states = {row[0] for row in client.execute(restore_states_sql("db"), {"since": NOW - 86400})}
    assert {"open", "recent"} <= states and "old" not in states


def test_the_engine_and_the_gateway_call_open_what_the_measure_calls_open():
    from cityops.streams.incidents.model import OPEN_STATUSES, STATUSES
    from cityops.streams.publish.gateway import open311_reads

    is_open = {s for s in STATUSES if measures.CONDITIONS["open"].holds(State(s, "street"))}
    assert is_open == set(OPEN_STATUSES) == set(open311_reads.OPEN_STATUSES)
    assert set(STATUSES) - is_open == set(open311_reads.CLOSED_STATUSES)
