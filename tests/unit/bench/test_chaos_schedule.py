"""The fault matrix's schedule: seeded, complete, inside the load window, spaced."""

from __future__ import annotations

import pytest

from cityops.bench.chaos import MIN_GAP, schedule

CASES = [
    # (kinds, counts, duration)
    (["worker_kill"], {"worker_kill": 20}, 240.0),
    (["clickhouse_kill"], {"clickhouse_kill": 3}, 150.0),
    (["worker_kill", "rebalance"], {"worker_kill": 2, "rebalance": 1}, 20.0),
    (["broker_kill"], {"broker_kill": 1}, 12.0),
    (["worker_kill"], {"worker_kill": 30}, 10.0),  # crowded: the gap shrinks to fit
]


@pytest.mark.parametrize(("kinds", "counts", "duration"), CASES)
def test_every_fault_once_inside_the_window_and_spaced(kinds, counts, duration):
    plan = schedule(7, kinds, counts, duration)
    for kind in kinds:
        mine = [at for at, k, _ in plan if k == kind]
        assert len(mine) == counts[kind]
        gap = min(MIN_GAP, duration * 0.8 / counts[kind])
        assert all(b - a >= gap - 1e-3 for a, b in zip(mine, mine[1:], strict=False))
        indexes = [p["index"] for _, k, p in plan if k == kind]
        assert indexes == list(range(counts[kind]))
    assert [at for at, _, _ in plan] == sorted(at for at, _, _ in plan)
    assert all(duration * 0.1 <= at <= duration * 0.9 + 1e-3 for at, _, _ in plan)


def test_same_seed_same_schedule_other_seed_other_moments():
    counts = {"worker_kill": 5, "rebalance": 2}
    first = schedule(3, ["worker_kill", "rebalance"], counts, 60.0)
    assert first == schedule(3, ["worker_kill", "rebalance"], counts, 60.0)
    assert first != schedule(4, ["worker_kill", "rebalance"], counts, 60.0)


def test_kinds_without_a_count_are_left_out():
    assert schedule(1, ["disk_full", "worker_kill"], {"worker_kill": 1}, 10.0)[0][1] == (
        "worker_kill"
    )
    assert schedule(1, ["disk_full"], {"disk_full": 0}, 10.0) == []


@pytest.mark.parametrize(
    ("acked", "stored", "unread", "unapplied", "expected"),
    [
        ({"a", "b"}, {"a", "b"}, set(), set(), (0, 0, 0)),
        ({"a", "b", "c"}, {"a"}, {"c"}, set(), (1, 1, 0)),  # b read and never stored: lost
        ({"a", "b"}, set(), {"a", "b", "z"}, set(), (0, 2, 0)),  # z: unread, never acknowledged
        ({"a"}, {"a", "x"}, {"x"}, set(), (0, 0, 0)),
        # b waits in a bundle the engine has not committed; c is unread (counted once, as behind)
        ({"a", "b", "c", "d"}, {"a"}, {"c"}, {"b", "c"}, (1, 1, 1)),
        ({"a", "b"}, {"a", "b"}, set(), {"a"}, (0, 0, 0)),  # stored and applied again later
    ],
)
def test_unstored_acks_split_into_lost_behind_and_unapplied(
    acked, stored, unread, unapplied, expected
):
    from cityops.bench.loss import split_unstored

    assert split_unstored(acked, stored, unread, unapplied) == expected
