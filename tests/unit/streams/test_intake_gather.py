"""The bridge's gathering of fetches into larger bundles (Bridge.gather)."""

import asyncio

from cityops.schemas.registry import load_registry
from cityops.streams.clock import Clock
from cityops.streams.intake import STEP_MAX_ITEMS, Bridge


class ScriptedConsumer:
    """Returns the scripted fetch results in order, then empty fetches after `timeout_ms`."""

    def __init__(self, fetches):
        self.fetches = list(fetches)
        self.calls = []

    async def getmany(self, timeout_ms, max_records):
        self.calls.append((timeout_ms, max_records))
        if self.fetches:
            return self.fetches.pop(0)
        await asyncio.sleep(timeout_ms / 1000)
        return {}


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


def timed_gather(b, consumer, stop_after=None):
    """`b.gather(consumer)` on a loop of its own: (what it returned, seconds it took); with
    `stop_after`, the bridge is told to stop that many seconds in."""
    loop = asyncio.new_event_loop()
    try:
        if stop_after is not None:
            loop.call_later(stop_after, b.stopping.set)
        started = loop.time()
        merged = loop.run_until_complete(b.gather(consumer))
        return merged, loop.time() - started
    finally:
        loop.close()


def test_what_arrives_during_the_linger_is_taken_once_and_merged_in_order():
    consumer = ScriptedConsumer([{"p0": [1, 2]}, {"p1": [10], "p0": [3]}, {"p0": [4]}])
    merged = asyncio.run(bridge(min_items=10).gather(consumer))
    assert merged == {"p0": [1, 2, 3], "p1": [10]}
    # one fetch, then one take of what was buffered, without waiting: never a series of fetches
    assert consumer.calls[1][0] == 0
    assert len(consumer.calls) == 2


def test_the_linger_is_a_sleep_before_the_take():
    consumer = ScriptedConsumer([{"p0": [1]}, {"p0": [2]}])
    merged, waited = timed_gather(bridge(linger=0.2, min_items=1000), consumer)
    assert merged == {"p0": [1, 2]}
    assert 0.19 <= waited < 1.0


def test_a_stop_cuts_the_linger_short():
    consumer = ScriptedConsumer([{"p0": [1]}, {}])
    merged, waited = timed_gather(bridge(linger=5.0, min_items=1000), consumer, stop_after=0.05)
    assert merged == {"p0": [1]}
    assert waited < 1.0


def test_a_full_fetch_does_not_wait():
    consumer = ScriptedConsumer([{"p0": list(range(10))}, {"p1": [99]}])
    merged = asyncio.run(bridge(min_items=10).gather(consumer))
    assert merged == {"p0": list(range(10))}
    assert len(consumer.calls) == 1


def test_an_empty_fetch_returns_at_once():
    consumer = ScriptedConsumer([{}, {"p0": [1]}])
    assert asyncio.run(bridge().gather(consumer)) == {}
    assert len(consumer.calls) == 1


def test_waiting_is_bounded_by_the_linger():
    consumer = ScriptedConsumer([{"p0": [1]}])
    merged, waited = timed_gather(bridge(linger=0.2, min_items=1000), consumer)
    assert merged == {"p0": [1]}
    assert waited < 1.0  # bounded by the linger, not by the fetch size
    # later fetches never ask for more than one step holds
    assert all(max_records <= STEP_MAX_ITEMS for _, max_records in consumer.calls)


def test_no_linger_means_one_fetch():
    consumer = ScriptedConsumer([{"p0": [1]}, {"p0": [2]}])
    assert asyncio.run(bridge(linger=0).gather(consumer)) == {"p0": [1]}
