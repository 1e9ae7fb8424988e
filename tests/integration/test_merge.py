"""并单 end to end on a real broker, ClickHouse and worker (CONTRACT §11 city.incident.merge.v1):
the district's desk merges a hotline report's incident into a grid patrol's; the merged one
closes "merged into", the surviving one counts its report, both timelines show the merge, and
the surviving one's callback at resolution covers the hotline reporter. The attacks from the
side of another district's desk, a handling department, a department key acting in the desk's
name, and the refusals (into itself, into a merged incident, another category, an unknown id)
each land in rejected_events with the reason, the incidents unchanged. The merged duplicate is
no matter of its own: the measures the dashboard reads (wall counters in SQL and in its cache,
loop counts) count one incident, not two, and its rows name the survivor in `merged_into`."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from cityops.dashboard.cache.latest_state import LatestState
from cityops.storage import incident_state, loop_queries, measures
from cityops.storage import wall_queries as wq
from tests.integration.test_authz_engine import forged, rejection_of
from tests.integration.test_engine import (
    Stack,
    a_report,
    act_and_wait,
    an_action,
    incident_of,
    status_of,
    timeline,
)
from tests.integration.test_loop import DESK, LEAD, engine, noise  # noqa: F401 - the fixture

STREET_MICRO = "32010500100104"  # micro-grids of one street (320105001) for these tests


def patrolled(stack: Stack, micro: str) -> str:
    """A grid patrol's noise report (no callback channel, not citizen-facing): its incident."""
    report = a_report("noise", 1, micro)
    report["source"] = "/departments/grid_inspect"
    report["data"]["channel"] = "grid_patrol"
    stack.send(report)
    incident = incident_of(stack, report["id"])
    stack.wait("the incident dispatched", lambda: (s := status_of(stack, incident)) and s[0])
    return incident


def reason_of(stack: Stack, incident: str, kind: str) -> str:
    rows = stack.q(
        "SELECT any(reason) FROM {db}.incident_transitions WHERE incident_id = %(i)s "
        "AND kind = %(k)s GROUP BY seq",
        {"i": incident, "k": kind},
    )
    return rows[0][0] if rows else ""


def counted(stack: Stack) -> tuple[dict, dict]:
    """The wall's counters (SQL) and the loop counts of district 320105 as the dashboard reads
    them."""
    since = datetime.fromtimestamp(time.time() - 86400, UTC)
    wall = wq.incident_counters(stack.ch, stack.db, now=int(time.time())).total
    loop = loop_queries.loop_rates(stack.ch, stack.db, "district", since)
    return wall, next(row for row in loop if row["key"] == "320105")


def cache_counters(stack: Stack) -> dict:
    """The same counters as the wall's cache computes them from the narrow latest states."""
    state = LatestState()
    state.load(incident_state.load_latest(stack.ch, stack.db))
    state.advance(int(time.time()))
    total = dict.fromkeys(measures.OPEN_NAMES + measures.WIN_NAMES, 0)
    for sums, names in (
        (state.open_sums, measures.OPEN_NAMES),
        (state.win_sums, measures.WIN_NAMES),
    ):
        for row in sums.values():
            for name, v in zip(names, row, strict=True):
                total[name] += v
    return total


def test_a_merge_closes_the_duplicate_and_keeps_its_reporter_called_back(engine):  # noqa: F811
    duplicate = noise(engine, STREET_MICRO + "01")  # a hotline report
    kept = patrolled(engine, STREET_MICRO + "02")
    wall, loop = counted(engine)
    merge = an_action("merge", duplicate, DESK, into=kept, comment="同一处噪声")
    act_and_wait(engine, merge, "closed", duplicate)
    # the duplicate's rows name the survivor; it counts in no measure: one matter left, not a
    # second one closed (or actually resolved)
    assert engine.q(
        "SELECT argMax(merged_into, version), argMax(status, version) FROM {db}.incidents "
        "WHERE incident_id = %(i)s GROUP BY incident_id",
        {"i": duplicate},
    ) == [(kept, "closed")]
    wall_after, loop_after = counted(engine)
    assert wall_after["open"] == wall["open"] - 1 and wall_after["win"] == wall["win"] - 1
    for name in ("win_closed", "win_done", "win_actual"):
        assert wall_after[name] == wall[name], name
    assert (loop_after["closed"], loop_after["confirmed_solved"]) == (
        loop["closed"],
        loop["confirmed_solved"],
    )
    assert cache_counters(engine) == {
        name: wall_after[name] for name in measures.OPEN_NAMES + measures.WIN_NAMES
    }
    # the dashboard cache's delta (incident_changes, fed by its view) carries the flag as well
    delta = incident_state.delta_since(engine.ch, engine.db, since=int(time.time()) - 3600)
    keys = incident_state.NARROW_KEYS
    merged_flags = {row[keys.index("h")]: row[keys.index("merged")] for row in delta}
    (hashed,) = engine.q("SELECT cityHash64(%(i)s)", {"i": duplicate})[0]
    assert merged_flags[hashed] == 1
    assert "merged" in timeline(engine, duplicate)
    assert reason_of(engine, duplicate, "merged") == f"merged into {kept} 同一处噪声"
    engine.wait("the merge on the kept incident", lambda: "merged_from" in timeline(engine, kept))
    assert reason_of(engine, kept, "merged_from").startswith(f"{duplicate} merged in (1 reports)")
    assert status_of(engine, kept)[4] == 1  # repeat_count: the merged report
    # the kept incident was a grid patrol's: the callback now covers the hotline reporter
    act_and_wait(engine, an_action("accept", kept, LEAD), "accepted", kept)
    act_and_wait(engine, an_action("resolve", kept, LEAD), "resolved", kept)
    engine.wait(
        "a callback task for hotline12345",
        lambda: (
            engine.q(
                "SELECT argMax(role, version) FROM {db}.dept_tasks WHERE incident_id = %(i)s "
                "AND department = 'hotline12345' GROUP BY department",
                {"i": kept},
            )
            == [("callback",)]
        ),
    )
    # into the merged incident: refused, nothing changes
    third = noise(engine, STREET_MICRO + "03")
    late = an_action("merge", third, DESK, into=duplicate)
    engine.send(late)
    reason, path, _ = rejection_of(engine, late)
    assert reason == f"merge into {duplicate}, which was merged into {kept}" and path == "data.into"
    assert status_of(engine, third)[0] == "dispatched"


def test_merges_refused_with_the_reason(engine):  # noqa: F811
    one = noise(engine, STREET_MICRO + "04")
    two = noise(engine, STREET_MICRO + "05")
    parking = a_report("parking", 1, "3201050010010305")
    engine.send(parking)
    parked = incident_of(engine, parking["id"])
    cases = [
        (an_action("merge", one, "desk_320102", into=two),
         '"desk_320102" acts only on incidents of district 320102', "data.department"),
        (an_action("merge", one, LEAD, into=two),
         'merge only by the dispatch desk ("desk_320105")', "data.department"),
        (forged("merge", one, DESK, "urban_mgmt", into=two), "is not the sender",
         "data.department"),
        (an_action("merge", one, DESK, into=one), f"cannot merge {one} into itself", "data.into"),
        (an_action("merge", one, DESK, into="320105001-0000000000000000"),
         "unknown incident '320105001-0000000000000000'", "data.into"),
        (an_action("merge", one, DESK, into=parked),
         "merge of different categories: noise into parking", "data.into"),
        (an_action("merge", one, DESK, into="320102001-0000000000000000"),
         '"desk_320105" acts only on incidents of district 320105', "data.into"),
    ]  # fmt: skip
    for event, _, _ in cases:
        engine.send(event)
    for event, expected, field in cases:
        reason, path, _ = rejection_of(engine, event)
        assert expected in reason and path == field, (reason, path)
    for incident in (one, two):
        assert status_of(engine, incident)[0] == "dispatched"
        assert "merged" not in timeline(engine, incident)
        assert "merged_from" not in timeline(engine, incident)
