"""The latest-state cache as pure data: versions, late rows, the 24-hour window and the district
scope, without ClickHouse (rows shaped as cityops.storage.incident_state.NARROW_KEYS)."""

from __future__ import annotations

from cityops.dashboard.cache.latest_state import DAY, LatestState
from cityops.dashboard.cache.snapshot import View

NOW = 1_800_000_000


def a_row(h, version=1, *, status="dispatched", district="320105", level="street", joint=0,
          breached=0, escalated=0, repeat=0, reopened=0, satisfied=1, severity=2,
          reported_at=NOW - 3600, updated_at=None, category="road_damage",
          resolve_due=None, merged=0) -> tuple:  # fmt: skip
    updated = updated_at if updated_at is not None else reported_at + version
    due = resolve_due if resolve_due is not None else reported_at + DAY
    return (h, version, updated, status, district and level, district, joint, breached, escalated,
            repeat, reopened, satisfied, severity, reported_at, category, due, merged)  # fmt: skip


def a_wide(row) -> dict:
    return {"incident_id": f"i{row[0]}", "district": row[5], "severity": row[12],
            "reported_at": row[13], "joint": row[6], "resolve_due": row[15]}  # fmt: skip


def a_view(state: LatestState) -> View:
    return View(
        open_sums={d: tuple(v) for d, v in state.open_sums.items()},
        win_sums={d: tuple(v) for d, v in state.win_sums.items()},
        yesterday={},
        listed=tuple(state.listed.values()),
        min_severity=state.min_severity,
    )


def loaded(*rows, now=NOW) -> LatestState:
    state = LatestState()
    state.load(sorted(rows))
    state.advance(now)
    return state


def test_a_newer_version_moves_an_incident_from_open_to_closed():
    state = loaded(a_row(1), a_row(2, joint=1))
    assert a_view(state).counters().total["open"] == 2
    assert state.apply(a_row(2, 2, status="closed", joint=1))
    total = a_view(state).counters().total
    assert (total["open"], total["joint"], total["win_closed"], total["win_done"]) == (1, 0, 1, 1)


def test_a_duplicate_merged_into_another_leaves_every_counter():
    """并单: the merged duplicate's closing version takes it out of the open counters and out of
    the window's incidents, closed and actually resolved; the survivor stays counted."""
    state = loaded(a_row(1), a_row(2), a_row(3, status="closed"))
    assert state.apply(a_row(2, 2, status="closed", merged=1))
    total = a_view(state).counters().total
    assert (total["open"], total["win"], total["win_closed"], total["win_actual"]) == (1, 2, 1, 1)


def test_a_late_older_version_changes_nothing():
    state = loaded(a_row(1, 3, status="closed"))
    assert not state.apply(a_row(1, 2, status="dispatched", updated_at=NOW))
    assert a_view(state).counters().total["open"] == 0
    assert state.version[state.slot(1)] == 3


def test_versions_arriving_out_of_order_keep_the_highest():
    state = loaded()
    assert state.apply(a_row(7, 3, status="resolved"))
    assert not state.apply(a_row(7, 2, status="dispatched"))
    total = a_view(state).counters().total
    assert (total["open"], total["win_done"], total["win_closed"]) == (0, 1, 0)


def test_a_redelivered_version_is_applied_once():
    state = loaded()
    for _ in range(3):
        state.apply(a_row(5, 1, breached=1, escalated=1))
    total = a_view(state).counters().total
    assert (total["open"], total["breached"], total["escalated"], total["win"]) == (1, 1, 1, 1)


def test_an_incident_leaves_the_rates_window_after_24_hours_but_stays_open():
    state = loaded(a_row(1, reported_at=NOW - 100))
    assert a_view(state).counters().total["win"] == 1
    state.advance(NOW + DAY)
    total = a_view(state).counters().total
    assert (total["win"], total["open"]) == (0, 1)
    state.advance(NOW)  # a clock that steps back brings it back
    assert a_view(state).counters().total["win"] == 1


def test_new_incidents_outside_the_window_count_as_open_only():
    state = loaded(a_row(1))
    state.apply(a_row(9, reported_at=NOW - 3 * DAY, updated_at=NOW))
    total = a_view(state).counters().total
    assert (total["open"], total["win"]) == (2, 1)


def test_levels_and_the_actual_resolution_numerators():
    state = loaded(
        a_row(1, level="grid"), a_row(2, level="micro_grid"), a_row(3, level="city"),
        a_row(4, status="closed", level="community"),
        a_row(5, status="closed", reopened=1), a_row(6, status="closed", satisfied=0),
    )  # fmt: skip
    total = a_view(state).counters().total
    assert (total["lvl_grid"], total["lvl_city"], total["open"]) == (2, 1, 3)
    assert (total["win_closed"], total["win_actual"], total["win_low"]) == (3, 1, 3)


def test_an_officers_scope_sees_only_their_district():
    state = loaded(a_row(1, district="320105", severity=4), a_row(2, district="320106", severity=4))
    state.apply(a_row(1, 2, district="320105", severity=4), a_wide)
    state.apply(a_row(2, 2, district="320106", severity=4, joint=1), a_wide)
    view = a_view(state)
    assert set(view.counters("320106").by_district) == {"320106"}
    assert view.counters("320106").total["open"] == 1
    assert [w["incident_id"] for w in view.severe_open(scope="320106")] == ["i2"]
    assert [w["incident_id"] for w in view.joint_open(scope="320105")] == []
    assert len(view.severe_open()) == 2


def test_a_closed_incident_leaves_the_wall_lists():
    state = loaded(a_row(1, severity=4))
    state.apply(a_row(1, 2, severity=4), a_wide)
    assert len(a_view(state).severe_open()) == 1
    state.apply(a_row(1, 3, severity=4, status="closed"), a_wide)
    assert a_view(state).severe_open() == []


def test_a_delta_looks_up_only_heads_it_has_not_decided_before():
    from cityops.dashboard.cache.snapshot import IncidentSnapshot
    from cityops.storage import incident_state as st

    stored = {1: a_row(1, updated_at=NOW - 10), 2: a_row(2, updated_at=NOW - 5)}
    wide_reads: list[tuple] = []

    def run(query, **kw):
        if query is st.delta_heads:
            return [(h, row[1], row[2]) for h, row in stored.items() if row[2] >= kw["since"]]
        if query is st.delta_since:
            wide_reads.append(kw["hashes"])
            return [(*stored[h], *[None] * len(st.DELTA_WIDE_KEYS)) for h in kw["hashes"]]
        raise AssertionError(query)

    cache = IncidentSnapshot(run, yesterday_seconds=0, reload_seconds=0)
    state = loaded(a_row(1, updated_at=NOW - 10))
    cache._apply_delta(state, NOW)
    assert wide_reads == [(2,)]  # 1 is held at that version; 2 is new
    cache._apply_delta(state, NOW + 1)
    assert wide_reads == [(2,)]  # the same heads again: nothing read, nothing applied
    stored[1] = a_row(1, 2, status="closed", updated_at=NOW - 1)
    cache._apply_delta(state, NOW + 2)
    assert wide_reads == [(2,), (1,)]
    total = a_view(state).counters().total
    assert (total["open"], total["win_closed"]) == (1, 1)


def test_the_latest_category_and_deadline_are_held_and_their_changes_logged():
    state = loaded(a_row(1, category="noise", resolve_due=NOW + 60), a_row(2, resolve_due=0))
    assert (state.category_of(0), state.resolve_due[0], state.resolve_due[1]) == (
        "noise", NOW + 60, 0,  # 0: no deadline
    )  # fmt: skip
    state.apply(a_row(1, 2, category="waterlogging", resolve_due=NOW + 60))  # reclassified only
    state.apply(a_row(2, 2, resolve_due=NOW + 7200))  # a deadline at last
    state.apply(a_row(1, 1, category="noise", resolve_due=0))  # an older version: ignored
    state.apply(a_row(2, 3, resolve_due=NOW + 7200))  # nothing a search reads changed
    assert (state.category_of(0), state.resolve_due[1]) == ("waterlogging", NOW + 7200)
    assert list(state.changed) == [0, 1]


def test_a_delta_rows_wide_row_takes_category_and_deadline_from_the_narrow_columns():
    from cityops.dashboard.cache.snapshot import wide_row
    from cityops.storage import incident_state as st
    from cityops.storage.latest import WIDE_KEYS

    narrow = a_row(7, severity=4, category="gas_leak", resolve_due=NOW + 900)
    wide = wide_row((*narrow, *(f"w{i}" for i in range(len(st.DELTA_WIDE_KEYS)))))
    assert set(wide) == set(WIDE_KEYS)
    assert (wide["category"], wide["resolve_due"], wide["incident_id"]) == (
        "gas_leak", NOW + 900, "w0",
    )  # fmt: skip
