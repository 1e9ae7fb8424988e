"""The engine's compact SLA timers fire exactly like a heap of (due, incident id) tuples."""

from __future__ import annotations

import heapq
import random

from cityops.streams.incidents.timers import Timers

T = 1_764_036_000.0  # a minute boundary (2025-11-25 02:00 UTC)


def test_an_entry_fires_at_its_due_second_not_before():
    timers = Timers()
    timers.arm(0, T + 90.5, "320105001-aa")
    assert timers.pop_due(0, T + 90.4) == []
    assert timers.pop_due(0, T + 90.5) == ["320105001-aa"]
    assert timers.pop_due(0, T + 10_000) == []


def test_due_entries_come_in_due_order_across_minutes():
    timers = Timers()
    timers.arm(0, T + 3_600, "c")
    timers.arm(0, T + 30, "b")
    timers.arm(0, T + 29, "a")
    timers.arm(0, T + 7_200, "later")
    assert timers.pop_due(0, T + 3_600) == ["a", "b", "c"]
    assert timers.count(0) == 1


def test_an_entry_later_in_the_current_minute_stays_armed():
    timers = Timers()
    timers.arm(0, T + 10, "early")
    timers.arm(0, T + 50, "late")
    assert timers.pop_due(0, T + 20) == ["early"]
    assert timers.pop_due(0, T + 49) == []
    assert timers.pop_due(0, T + 50) == ["late"]


def test_partitions_are_separate_and_reset_forgets_one():
    timers = Timers()
    timers.arm(0, T, "p0")
    timers.arm(1, T, "p1")
    timers.reset(0)
    assert timers.pop_due(0, T + 60) == []
    assert timers.pop_due(1, T + 60) == ["p1"]
    timers.arm(2, T, "p2")
    timers.clear()
    assert timers.pop_due(2, T + 60) == []


def test_repeated_arming_keeps_every_entry_like_the_heap_did():
    timers = Timers()
    timers.arm(3, T + 5, "x")
    timers.arm(3, T + 5, "x")
    assert timers.pop_due(3, T + 5) == ["x", "x"]


def test_random_schedules_match_a_heap_of_tuples():
    rng = random.Random(7)
    timers, heap = Timers(), []
    now = T
    for _ in range(200):
        for _ in range(rng.randint(0, 30)):
            due = now + rng.uniform(-120, 4 * 3_600)
            incident_id = f"3201{rng.randint(0, 99):02d}001-{rng.getrandbits(64):016x}"
            timers.arm(5, due, incident_id)
            heapq.heappush(heap, (due, incident_id))
        now += rng.uniform(0, 300)
        expected = []
        while heap and heap[0][0] <= now:
            expected.append(heapq.heappop(heap)[1])
        assert timers.pop_due(5, now) == expected
    assert timers.count(5) == len(heap)


def test_a_million_entries_take_tens_of_megabytes_not_hundreds():
    timers = Timers()
    for n in range(1_000_000):
        timers.arm(n % 8, T + (n % 20_000) * 60 + 0.25, f"320105{n % 100:03d}-{n:016x}")
    assert timers.nbytes() < 40 * 2**20
