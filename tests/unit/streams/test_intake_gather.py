"""The bridge's gathering of fetches into larger bundles (Bridge.gather): one fetch round per
step, the partitions paused from a short take through the next step's linger."""

import asyncio

from cityops.schemas.registry import load_registry
from cityops.streams.clock import Clock
from cityops.streams.intake import STEP_MAX_ITEMS, Bridge


class ScriptedConsumer:
    """Returns the scripted fetch results in order, then empty fetches after `timeout_ms`;
    holds `assigned` partitions and records every take, pause and resume (`log`). A take
    while a partition is paused fails the test: the fetcher would send nothing for it."""

    def __init__(self, fetches, assigned=("p0", "p1")):
        self.fetches = list(fetches)
        self.calls = []
        self.assigned = set(assigned)
        self.held_paused: set = set()
        self.log: list = []

    async def getmany(self, timeout_ms, max_records):
        assert not self.held_paused, "a take while partitions are paused"
        self.calls.append((timeout_ms, max_records))
        self.log.append("take")
        if self.fetches:
            return self.fetches.pop(0)
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    def assignment(self):
        return set(self.assigned)

    def paused(self):
        return self.held_paused & self.assigned

    def pause(self, *partitions):
        assert set(partitions) <= self.assigned
        self.held_paused |= set(partitions)
        self.log.append(("pause", frozenset(partitions)))

    def resume(self, *partitions):
        assert set(partitions) <= self.assigned, "only held partitions can be resumed"
        self.held_paused -= set(partitions)
        self.log.append(("resume", frozenset(partitions)))

    def rebalance(self, assigned):
        """A new assignment: revoked partitions' state is gone, new ones start unpaused."""
        self.assigned = set(assigned)
        self.held_paused &= self.assigned


def bridge(linger=0.1, min_items=10):
    return Bridge(
        bootstrap="unused:9092",
        source="city.events",
        bundles="bundles",
        group="g",
        partitions=8,
        clock=Clock(),
        registry=load_registry(),
        tick_seconds=1.0,
        linger=linger,
        min_items=min_items,
    )


def timed_gathers(b, consumer, steps, stop_after=None):
    """`steps` gathers on a loop of their own: [(what each returned, seconds it took)]; with
    `stop_after`, the bridge is told to stop that many seconds in."""
    loop = asyncio.new_event_loop()
    try:
        if stop_after is not None:
            loop.call_later(stop_after, b.stopping.set)
        out = []
        for _ in range(steps):
            started = loop.time()
            batches = loop.run_until_complete(b.gather(consumer))
            out.append((batches, loop.time() - started))
        return out
    finally:
        loop.close()


PAUSE_ALL = ("pause", frozenset({"p0", "p1"}))
RESUME_ALL = ("resume", frozenset({"p0", "p1"}))


def test_a_short_take_pauses_every_partition_until_the_next_steps_linger_has_passed():
    consumer = ScriptedConsumer([{"p0": [1, 2]}, {"p1": [10], "p0": [3]}])
    (first, quick), (second, waited) = timed_gathers(bridge(linger=0.2), consumer, 2)
    assert (first, second) == ({"p0": [1, 2]}, {"p1": [10], "p0": [3]})
    assert quick < 0.1  # the first step fetches at once
    assert 0.19 <= waited < 1.0  # the second lingers first
    # one fetch round per step; nothing is fetched from the take through the linger
    assert consumer.log == ["take", PAUSE_ALL, RESUME_ALL, "take", PAUSE_ALL]
    assert consumer.paused() == {"p0", "p1"}


def test_a_full_take_leaves_the_partitions_running_and_the_next_step_does_not_wait():
    consumer = ScriptedConsumer([{"p0": list(range(10))}, {"p1": [99]}])
    (first, _), (second, waited) = timed_gathers(bridge(linger=5.0, min_items=10), consumer, 2)
    assert (first, second) == ({"p0": list(range(10))}, {"p1": [99]})
    assert waited < 1.0
    assert consumer.log == ["take", "take", PAUSE_ALL]  # the second take was short


def test_an_empty_take_lingers_but_pauses_nothing_as_its_fetch_may_still_be_on_its_way():
    consumer = ScriptedConsumer([{}, {"p0": [1]}])
    (first, _), (second, waited) = timed_gathers(bridge(linger=0.2), consumer, 2)
    assert (first, second) == ({}, {"p0": [1]})
    assert waited >= 0.19
    assert consumer.log == ["take", "take", PAUSE_ALL]


def test_a_stop_cuts_the_linger_short():
    consumer = ScriptedConsumer([{"p0": [1]}, {}])
    steps = timed_gathers(bridge(linger=5.0), consumer, 2, stop_after=0.05)
    assert [batches for batches, _ in steps] == [{"p0": [1]}, {}]
    assert steps[1][1] < 1.0


def test_a_rebalance_during_the_linger_resumes_only_what_is_still_held():
    consumer = ScriptedConsumer([{"p0": [1]}, {"p2": [7]}], assigned=("p0", "p1"))

    async def two_steps_with_a_rebalance_between():
        b = bridge(linger=0.2)
        first = await b.gather(consumer)
        second = asyncio.ensure_future(b.gather(consumer))
        await asyncio.sleep(0.05)
        consumer.rebalance({"p0", "p2"})  # p1 revoked, p2 newly assigned (running)
        return first, await second

    assert asyncio.run(two_steps_with_a_rebalance_between()) == ({"p0": [1]}, {"p2": [7]})
    assert consumer.log[2] == ("resume", frozenset({"p0"}))
    assert consumer.log[-1] == ("pause", frozenset({"p0", "p2"}))


def test_takes_never_ask_for_more_than_one_step_holds():
    consumer = ScriptedConsumer([{"p0": [1]}, {"p0": [2]}])
    timed_gathers(bridge(linger=0.05), consumer, 3)
    assert consumer.calls and all(limit == STEP_MAX_ITEMS for _, limit in consumer.calls)


def test_no_linger_means_no_pause_and_no_wait():
    consumer = ScriptedConsumer([{"p0": [1]}, {"p0": [2]}])
    steps = timed_gathers(bridge(linger=0), consumer, 2)
    assert [batches for batches, _ in steps] == [{"p0": [1]}, {"p0": [2]}]
    assert consumer.log == ["take", "take"]
