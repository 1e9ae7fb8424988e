"""The report's SQL (storage/report_queries.py) on a current ClickHouse (chdb): per district and per
street it equals the measures' in-memory twins over the incidents reported in the period as they
stood at its end; incidents and versions outside the period, and other districts under an
officer's scope, are not read. The same queries on 18.16: tests/integration/test_reports.py."""

from __future__ import annotations

import itertools

import pytest

from cityops.storage import measures
from cityops.storage import report_queries as rq
from cityops.storage import report_rows as rr
from cityops.storage.measures import LoopState, State
from tests.e2e.builders import a_transition, an_event, an_incident
from tests.optional import require

PERIOD = rr.period("daily", rr.parse_date("2026-12-01"))
START, END = int(PERIOD.start.timestamp()), int(PERIOD.end.timestamp())
PLACES = (("320105", "320105001"), ("320105", "320105002"), ("320102", "320102002"))


def _loop(r, merged_into=""):
    return {"callback": r["callback"], "unsolved": r["unsolved"], "returns": 0, "supervision": "",
            "merged_into": merged_into}  # fmt: skip


def _incidents() -> list[dict]:
    rows = []
    combos = itertools.product(
        ("dispatched", "resolved", "closed", "callback_overdue"),
        (0, 1),  # breaches
        (0, 2),  # repeat_count
        (("", 0, None), ("solved", 0, 1), ("solved", 1, 0), ("unsolved", 1, 0)),
        PLACES,
    )
    for n, (status, breaches, repeat, (callback, unsolved, sat), (d, s)) in enumerate(combos):
        at = START + 60 * n
        base = {"incident_id": f"r{n}", "reported_at": at, "district": d, "street": s}
        latest = {"callback": callback, "unsolved": unsolved}
        first = an_incident(**base, status="dispatched")
        rows.append({**first, **_loop({"callback": "", "unsolved": 0})})
        rows.append(
            {
                **an_incident(
                    **base,
                    version=2,
                    status=status,
                    breaches=breaches,
                    repeat_count=repeat,
                    satisfied=sat,
                    updated_at=at + 30,
                ),  # fmt: skip
                # every fifth one merged into another incident (并单) by the period's end
                **_loop(latest, "r0" if n % 5 == 4 else ""),
            }
        )
        # written after the period's end: a report of the period never sees it
        rows.append(
            {
                **an_incident(
                    **base, version=3, status="closed", breaches=9, satisfied=1, updated_at=END + 10
                ),  # fmt: skip
                **_loop({"callback": "solved", "unsolved": 0}),
            }
        )
    # only a version written after the end survives (merged): its oldest kept version counts
    rows.append({**an_incident(incident_id="merged", reported_at=END - 5, updated_at=END + 5,
                               district="320102", street="320102002", breaches=1),
                 **_loop({"callback": "", "unsolved": 0})})  # fmt: skip
    # reported the day before and the day after: outside the period
    for i, at in enumerate((START - 1, END)):
        rows.append({**an_incident(incident_id=f"out{i}", reported_at=at), **_loop(
            {"callback": "", "unsolved": 0})})  # fmt: skip
    return rows


def _as_of_end() -> dict[str, dict]:
    latest: dict[str, dict] = {}
    for r in _incidents():  # versions come in order
        updated = int(r["updated_at"].timestamp())
        reported = int(r["reported_at"].timestamp())
        if START <= reported < END and (updated < END or r["incident_id"] not in latest):
            latest[r["incident_id"]] = r
    return latest


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    require("chdb.session")
    from tests.unit.storage.test_queries_modern import insert, migrated

    c = migrated(tmp_path_factory.mktemp("chdb"))
    c.session.query("SYSTEM STOP MERGES db.incidents")
    for version in (1, 2, 3):  # as the writer does: each version in a later insert
        insert(c, "incidents", [r for r in _incidents() if r["version"] == version])
    events = [
        an_event(id=f"e{i}", time=START + i * 3600 - 7200, district=d, street=s)
        for i, (d, s) in zip(range(30), itertools.cycle(PLACES), strict=False)
    ]
    insert(c, "events", events + events[:5])  # a redelivered batch counts once
    transitions = []
    for n in range(3):
        iid, at = f"r{n}", START + 60 * n
        for seq, (kind, after) in enumerate(
            (("dispatched", 5), ("accepted", 600 * (n + 1)), ("resolved", 7200))
        ):
            transitions.append(a_transition(incident_id=iid, seq=seq, at=at + after, kind=kind))
    transitions.append(a_transition(incident_id="r0", seq=9, at=END + 5, kind="closed"))
    insert(c, "incident_transitions", transitions)
    yield c
    c.session.close()


def twin_counts(group: str, scope: str | None) -> dict[str, dict[str, int]]:
    """The measures' in-memory twins over the incidents of the period as they stood at its end."""
    rows = [r for r in _as_of_end().values() if scope is None or r["district"] == scope]
    states = [
        (r[group], State(r["status"], r["level"], breached=r["breaches"] > 0,
                         repeat=r["repeat_count"] > 0, merged=r["merged_into"] != ""))
        for r in rows
    ]  # fmt: skip
    loops = [
        (r[group], LoopState(r["status"], r["callback"], r["unsolved"],
                             None if r["satisfied"] is None else bool(r["satisfied"]),
                             merged=r["merged_into"] != ""))
        for r in rows
    ]  # fmt: skip
    report, loop = measures.report_counts(states), measures.loop_counts(loops)
    return {key: {**report[key], **loop[key]} for key in report}


@pytest.mark.parametrize("group", rq.GROUPS)
@pytest.mark.parametrize("scope", [None, "320105"])
def test_report_counts_equal_the_twins(client, group, scope):
    twin = twin_counts(group, scope)
    sql = rq.unit_counts(client, "db", group, PERIOD.start, PERIOD.end, scope)
    assert sql == twin
    expected_keys = {d if group == "district" else s for d, s in PLACES if scope in (None, d)}
    assert set(sql) == expected_keys
    for counts in sql.values():
        assert 0 < counts["on_time"] < counts["incidents"]
        assert 0 < counts["confirmed_solved"] < counts["closed"]


def test_events_are_counted_once_within_the_period(client):
    got = rq.unit_events(client, "db", "district", PERIOD.start, PERIOD.end)
    in_day = [i for i in range(30) if START <= START + i * 3600 - 7200 < END]
    expected: dict[str, int] = {}
    for i in in_day:
        d = PLACES[i % 3][0]
        expected[d] = expected.get(d, 0) + 1
    assert got == expected and sum(got.values()) == 24
    scoped = rq.unit_events(client, "db", "street", PERIOD.start, PERIOD.end, "320102")
    assert set(scoped) == {"320102002"}


def test_stage_times_read_the_transitions_of_the_period(client):
    times = rq.stage_times(client, "db", "district", PERIOD.start, PERIOD.end)
    # a duplicate merged into another incident by the period's end is in no stage
    matters = [r for r in _as_of_end().values() if r["merged_into"] == ""]
    assert sum(len(v) for v in times.values()) == len(matters) < len(_as_of_end())
    r0 = next(t for t in times["320105"] if t["reported"] == START)
    assert r0["dispatched"] == START + 5 and r0["accepted"] == START + 600
    assert r0["resolved"] == START + 7200 and r0["callback"] is None  # closed after the end
    f = rr.funnel(times["320105"])
    assert f["accepted"]["n"] == 2 and f["accepted"]["median_s"] == 595


def test_a_bad_group_is_refused(client):
    with pytest.raises(ValueError, match="group"):
        rq.unit_counts(client, "db", "community; DROP TABLE x", PERIOD.start, PERIOD.end)
