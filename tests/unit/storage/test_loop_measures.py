"""The loop measures (storage/measures.py): each condition as a table, and the SQL per lead
department, district and street equal to the in-memory twin on the same stored incidents on a
current ClickHouse (chdb); the returns audit pairs each return with the desk's decision. The same
queries on 18.16: tests/integration/test_loop.py."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

import pytest

from cityops.storage import loop_queries, measures
from cityops.storage.measures import LoopState
from tests.e2e.builders import an_incident
from tests.optional import require

NOW = int(time.time())
SINCE = datetime.fromtimestamp(NOW - 86400, UTC)

STATES = [
    # (state, conditions that hold)
    (LoopState("resolved", "pending"), set()),
    (LoopState("callback_overdue", "overdue"), {"callback_overdue"}),
    (LoopState("closed"), {"closed"}),  # closed without a callback: not confirmed
    (
        LoopState("closed", "solved", 0, True),
        {"closed", "confirmed_solved", "answered", "satisfied"},
    ),
    (LoopState("closed", "solved", 0, False), {"closed", "confirmed_solved", "answered"}),
    (LoopState("closed", "solved", 1, True), {"closed", "answered", "satisfied"}),  # once unsolved
    (LoopState("reopened", "unsolved", 1, False), {"answered"}),
]
# 并单: a merged duplicate still holds its conditions, but no count takes it (measures.COUNTED)
MERGED = LoopState("closed", "solved", 0, True, merged=True)


@pytest.mark.parametrize("state, holding", STATES)
def test_each_loop_condition_holds_exactly_where_defined(state, holding):
    assert {n for n, c in measures.LOOP_CONDITIONS.items() if c.holds(state)} == holding


def test_a_merged_duplicate_is_in_no_loop_count():
    assert measures.loop_counts([("x", MERGED)]) == {"x": dict.fromkeys(measures.LOOP_NAMES, 0)}
    unmerged = measures.loop_counts([("x", MERGED._replace(merged=False))])["x"]
    assert unmerged["closed"] == unmerged["confirmed_solved"] == 1


def test_loop_rates_and_their_denominators():
    counts = measures.loop_counts([("x", s) for s, _ in STATES] + [("x", MERGED)])["x"]
    assert measures.loop_rate(counts, "actual_resolution_rate") == pytest.approx(2 / 4)
    assert measures.loop_rate(counts, "satisfaction_rate") == pytest.approx(2 / 4)
    assert measures.loop_rate(dict.fromkeys(measures.LOOP_NAMES, 0), "satisfaction_rate") is None


def _incidents() -> list[dict]:
    rows = []
    combos = itertools.product(
        ("resolved", "callback_overdue", "closed", "reopened"),
        ("", "pending", "overdue", "solved", "unsolved"),
        (0, 1),  # unsolved answers
        (None, 0, 1),  # satisfied
        (("water", "320105", "320105001"), ("housing", "320102", "320102002")),
        ("", "l0"),  # merged_into (并单)
    )
    for n, (status, callback, unsolved, satisfied, place, merged_into) in enumerate(combos):
        lead, district, street = place
        base = {"incident_id": f"l{n}", "reported_at": NOW - 3600, "lead_department": lead,
                "district": district, "street": street}  # fmt: skip
        # an older version that would count otherwise
        rows.append({**an_incident(**base, status="closed", satisfied=1), "callback": "solved",
                     "unsolved": 0, "returns": 0, "supervision": "",
                     "merged_into": ""})  # fmt: skip
        rows.append(
            {
                **an_incident(**base, version=2, status=status, satisfied=satisfied),
                "callback": callback,
                "unsolved": unsolved,
                "returns": 0,
                "supervision": "",
                "merged_into": merged_into,
            }
        )
    return rows


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    require("chdb.session")
    from tests.unit.storage.test_queries_modern import insert, migrated

    c = migrated(tmp_path_factory.mktemp("chdb"))
    insert(c, "incidents", _incidents())
    transitions = [
        # (incident, seq, kind, department): urban_mgmt returned twice (upheld, then pending),
        # water once (reassigned); an incident's second return follows its first decision
        ("t1", 3, "returned", "urban_mgmt"),
        ("t1", 4, "return_upheld", "desk_320105"),
        ("t1", 5, "returned", "urban_mgmt"),
        ("t2", 3, "returned", "water"),
        ("t2", 4, "reassigned", "desk_320105"),
        ("t2", 4, "reassigned", "desk_320105"),  # a redelivered row
    ]
    insert(
        c,
        "incident_transitions",
        [
            {
                "incident_id": i,
                "seq": s,
                "at": NOW - 60,
                "kind": k,
                "from_status": "dispatched",
                "to_status": "dispatched",
                "level": "street",
                "unit_code": "320105001",
                "department": d,
                "actor": "",
                "reason": "",
                "event_id": "",
            }  # fmt: skip
            for i, s, k, d in transitions
        ],
    )
    yield c
    c.session.close()


@pytest.mark.parametrize("group", measures.LOOP_GROUPS)
def test_loop_sql_equals_the_twin(client, group):
    latest = {r["incident_id"]: r for r in _incidents()}  # version 2 comes last
    twin = measures.loop_counts(
        (
            r[group],
            LoopState(
                r["status"],
                r["callback"],
                r["unsolved"],
                None if r["satisfied"] is None else bool(r["satisfied"]),
                merged=r["merged_into"] != "",
            ),
        )
        for r in latest.values()
    )
    sql = {row["key"]: row for row in loop_queries.loop_rates(client, "db", group, SINCE)}
    assert set(sql) == set(twin) and len(twin) == 2
    for key, counts in twin.items():
        assert {name: sql[key][name] for name in measures.LOOP_NAMES} == counts
        assert 0 < counts["confirmed_solved"] < counts["closed"]
        for rate in measures.LOOP_RATES:
            assert sql[key][rate] == pytest.approx(measures.loop_rate(counts, rate))


def test_an_unknown_group_is_refused(client):
    with pytest.raises(ValueError, match="group must be one of"):
        loop_queries.loop_rates(client, "db", "status; DROP TABLE x", SINCE)


def test_the_returns_audit_pairs_returns_with_decisions(client):
    audit = loop_queries.returns_audit(client, "db", SINCE)
    assert audit == [
        {"department": "urban_mgmt", "returns": 2, "upheld": 1, "reassigned": 0, "pending": 1},
        {"department": "water", "returns": 1, "upheld": 0, "reassigned": 1, "pending": 0},
    ]
