"""The corrections to Faust's consumer that keep a bundle from being passed over after a
rebalance (streams/faust_patches.py), on a real Faust consumer object (no broker needed)."""

from __future__ import annotations

import pytest
from faust.types import TP

from cityops.schemas.topics import Topics
from cityops.settings import Settings
from cityops.streams.app import create_app
from cityops.streams.faust_patches import commit_ready
from cityops.streams.incidents.agent import BundleOrder

PREFIX = "fp."
BUNDLE = TP(Topics(PREFIX).bundles, 0)
OTHER = TP("fp.somewhere-else", 0)


@pytest.mark.parametrize(
    ("acked", "committed", "ready"),
    [
        ([0, 1, 2], None, True),  # nothing committed yet: starts at 0
        ([2, 3], None, False),  # bundles 0 and 1 never acked
        ([1, 2], 0, False),
        ([5, 6], 5, True),
        ([6, 7], 5, False),  # Faust itself lets one missing offset through
        ([], 3, False),
    ],
)
def test_commit_ready_only_from_the_committed_offset(acked, committed, ready):
    assert commit_ready(acked, committed) is ready


@pytest.mark.parametrize(
    ("acked", "committed", "gap_end", "ready"),
    [
        ([145, 146], 44, 145, True),  # 44-144 are not in the log: commit past them
        ([146, 147], 44, 145, False),  # 145 itself was never acked
        ([145], 44, None, False),  # no gap known: wait for 44
    ],
)
def test_commit_ready_passes_a_gap_the_log_does_not_have(acked, committed, gap_end, ready):
    assert commit_ready(acked, committed, gap_end) is ready


@pytest.fixture(scope="module")
def consumer():
    app, _, _ = create_app(Settings(topic_prefix=PREFIX))
    return app.consumer


def test_a_bundle_is_never_dropped_as_already_read(consumer):
    consumer._read_offset[BUNDLE] = 7
    consumer._read_offset[OTHER] = 7
    # Faust's fetch loop delivers a message only at or above this offset.
    assert consumer._read_offset[BUNDLE] is None
    assert consumer._read_offset[OTHER] == 7


async def fetched_again_after_the_seek(topic: str) -> list[int]:
    """Offsets Faust's fetch loop delivers when a fetch in flight during a rebalance returns
    offset 2 after the new assignment's seek to the committed offset 0, and the next fetch
    brings 0-3 again (docs/faust-corrections.md, defect 2). The fetch is a stub; the fetch loop,
    the seek's bookkeeping and the read offsets are Faust's (with the patches applied)."""
    import asyncio
    from types import SimpleNamespace

    import faust
    from faust.types.tuples import Message

    consumer = faust.App("fp-drain", broker="kafka://127.0.0.1:9").consumer
    tp, delivered, fetches = TP(topic, 0), [], []
    fetcher = SimpleNamespace(_stopped=asyncio.Event())

    def record(offset: int) -> Message:
        return Message(tp.topic, tp.partition, offset, 0.0, 0, {}, b"k", b"v", None)

    async def getmany(timeout):
        fetches.append(timeout)
        if len(fetches) == 1:
            await consumer.perform_seek()  # the rebalance, while this fetch is in flight
            yield tp, record(2)  # read at the position before the seek
        elif len(fetches) == 2:
            for offset in range(4):
                yield tp, record(offset)
        else:
            fetcher._stopped.set()

    async def seek_to_committed():
        return {tp: 0}

    async def deliver(message):
        delivered.append(message.offset)

    consumer.callback, consumer.getmany = deliver, getmany
    consumer.seek_to_committed = seek_to_committed
    await consumer._drain_messages(fetcher)
    return delivered


def test_bundles_fetched_again_after_a_rebalance_seek_are_delivered(consumer):
    import asyncio

    assert asyncio.run(fetched_again_after_the_seek(BUNDLE.topic)) == [2, 0, 1, 2, 3]
    # Faust's own rule, kept for other topics, drops 0 and 1 as "already read".
    assert asyncio.run(fetched_again_after_the_seek(OTHER.topic)) == [2, 2, 3]


def test_commit_waits_for_bundles_acked_out_of_order(consumer):
    consumer._committed_offset[BUNDLE] = None  # committed 0 (Faust keeps 0 as None)
    consumer._acked[BUNDLE] = [2, 3]
    assert consumer._new_offset(BUNDLE) is None
    consumer._acked[BUNDLE] = [0, 1, 2, 3]
    assert consumer._new_offset(BUNDLE) == 4


def test_other_topics_keep_fausts_own_commit_rule(consumer):
    consumer._committed_offset[OTHER] = None
    consumer._acked[OTHER] = [2, 3]
    assert consumer._new_offset(OTHER) == 4


def test_bundles_apply_in_offset_order_from_the_committed_one():
    order = BundleOrder()
    # Delivered after a rebalance: 2 (fetched before the seek), then 0, 1, 2 again, 3.
    admitted = [offset for offset in (2, 0, 1, 2, 3) if order.admit(0, offset, committed=0)]
    assert admitted == [0, 1, 2, 3]


def test_a_redelivered_bundle_is_applied_again_and_order_restarts_on_assignment():
    order = BundleOrder()
    assert [order.admit(1, o, committed=5) for o in (5, 6, 5, 7)] == [True, True, True, True]
    order.reset()
    assert order.admit(1, 9, committed=8) is False
    assert order.admit(1, 8, committed=8) is True


def test_a_partition_that_really_starts_later_is_accepted_after_max_skips():
    order = BundleOrder(max_skips=3)
    assert [order.admit(2, 40 + i, committed=0) for i in range(5)] == [
        False,
        False,
        False,
        True,
        True,
    ]


def test_a_partition_applied_past_a_hole_is_not_committed_across_it(consumer):
    order = BundleOrder(max_skips=2)
    assert [order.admit(3, 40, committed=0) for _ in range(3)] == [False, False, True]
    tp = TP(BUNDLE.topic, 3)
    consumer._committed_offset[tp] = None
    consumer._acked[tp] = [40, 41]
    assert consumer._new_offset(tp) is None


def test_a_rebalance_settles_the_engine_but_only_a_stop_stops_the_bridge(monkeypatch):
    import asyncio

    import faust

    waited = []

    async def faust_wait_empty(self, consumer, logger):
        waited.append(consumer)

    monkeypatch.setattr(faust.App, "_consumer_wait_empty", faust_wait_empty)
    app, runtime, bridge = create_app(Settings(topic_prefix="fp2."))

    class Consumer:
        _unacked_messages = {"never delivered"}

    consumer = Consumer()
    asyncio.run(app._consumer_wait_empty(consumer, None))  # a rebalance
    assert not bridge._stopping and consumer._unacked_messages and waited == [consumer]
    app._stopped.set()  # the worker is stopping
    asyncio.run(app._consumer_wait_empty(consumer, None))
    assert bridge._stopping and not consumer._unacked_messages and len(waited) == 2


def test_a_rebalance_stops_waiting_for_held_bundles(monkeypatch):
    """A held bundle is never applied, so never acked: Faust's wait for the acks before a
    rebalance would last until the group gives up on the worker (seen: a rolling upgrade whose
    second worker could not join for 2 minutes). Released, it comes again from the committed
    offset; what was applied is still acked first."""
    import asyncio
    from types import SimpleNamespace

    import faust

    async def faust_wait_empty(self, consumer, logger):
        assert consumer._unacked_messages == {"delivered, not held"}

    monkeypatch.setattr(faust.App, "_consumer_wait_empty", faust_wait_empty)
    app, runtime, _ = create_app(Settings(topic_prefix="fp3."))
    held = [SimpleNamespace(message=f"bundle {o}") for o in (41, 42)]
    for offset, event in zip((41, 42), held, strict=True):
        assert runtime.order.take(2, offset, 0, event) == ([], [])  # 0 .. 40 not delivered

    class Consumer:
        _unacked_messages = {"delivered, not held", "bundle 41", "bundle 42"}

    asyncio.run(app._consumer_wait_empty(Consumer(), None))  # a rebalance
    assert runtime.order.ripe(lambda p: 41) == []  # nothing held any more


def test_held_bundles_apply_once_the_seek_tells_the_committed_offset():
    """Fetched before the seek, 41 and 42 were held against offset 0 (what Faust knew then);
    the seek says 41 is committed and nothing more arrives for that partition."""
    order = BundleOrder()
    assert order.take(2, 41, 0, "b41") == ([], [])
    assert order.take(2, 42, 0, "b42") == ([], [])
    assert order.take(3, 7, 0, "b7") == ([], [])
    assert order.ripe(lambda p: 0) == []  # still not known: still held
    committed = {2: 41, 3: 5}
    assert order.ripe(committed.get) == ["b41", "b42"]  # 3 still waits for 5 and 6
    assert order.take(2, 43, 41, "b43") == (["b43"], [])  # and the partition goes on in order
    assert order.take(3, 5, 5, "b5") == (["b5"], []) and order.take(3, 6, 5, "b6")[0] == [
        "b6",
        "b7",
    ]


def test_the_consumer_fetches_again_from_a_bundle_it_went_past_before_a_hole_is_accepted():
    """Seen after a worker kill: the engine's consumer delivered 2, 3 … of a partition committed
    at 1 and never 1, which a fresh consumer read from the committed offset."""
    order = BundleOrder(max_skips=100, reseek_after=10)
    for offset in range(2, 11):
        assert order.take(4, offset, 1, f"b{offset}")[0] == []
        assert order.reseek == {}
    assert order.take(4, 11, 1, "b11")[0] == [] and order.reseek == {4: 1}
    order.reseek.clear()  # the agent seeks the consumer to offset 1
    again = [order.take(4, o, 1, f"b{o}") for o in range(1, 12)]  # fetched again from 1
    assert again[0] == ([f"b{o}" for o in range(1, 12)], [])
    # 2 … 11 delivered again after they were applied: applied again (idempotent by event id)
    assert [ready for ready, _ in again[1:]] == [[f"b{o}"] for o in range(2, 12)]
    assert order.reseek == {} and order.gaps == {}


def test_a_gap_applied_past_is_reported_for_the_commit():
    order = BundleOrder(max_skips=2)
    assert [order.admit(1, 45, committed=44) for _ in range(3)] == [False, False, True]
    assert order.gaps == {1: 45}  # the agent hands it to faust_patches.accept_gap
    assert order.admit(1, 46, committed=44) and order.gaps == {1: 45}


def test_bundles_past_a_hole_are_held_and_all_applied_in_order_once_it_is_accepted():
    """A durable broker's crash left offset 29 out of the log: 30 … 129 were delivered past it.
    Every one of them is applied (dropping them lost their events), in offset order."""
    order = BundleOrder(max_skips=100)
    applied = []
    for offset in range(30, 131):
        ready, replaced = order.take(2, offset, 29, f"b{offset}")
        assert replaced == []
        applied += ready
    assert applied == [f"b{o}" for o in range(30, 131)]
    assert order.gaps == {2: 130}
    assert order.take(2, 131, 29, "b131") == (["b131"], [])


def test_a_held_bundle_delivered_again_replaces_its_copy_and_frees_in_order():
    order = BundleOrder()
    assert order.take(0, 2, 0, "old2") == ([], [])
    assert order.take(0, 2, 0, "new2") == ([], ["old2"])
    assert order.take(0, 0, 0, "b0") == (["b0"], [])
    assert order.take(0, 1, 0, "b1") == (["b1", "new2"], [])
    assert order.take(0, 2, 0, "again2") == (["again2"], [])  # behind: applied again
    assert order.take(0, 3, 0, "b3") == (["b3"], [])


def test_a_second_hole_among_the_held_bundles_is_passed_too(consumer):
    order = BundleOrder(max_skips=3)
    out = [order.take(3, o, 10, o)[0] for o in (12, 13, 16, 17)]
    assert out == [[], [], [], [12, 13, 16, 17]]
    assert order.gaps == {3: 17}
    assert order.take(3, 18, 10, 18) == ([18], [])


def test_a_new_assignment_hands_back_the_held_bundles_for_release():
    order = BundleOrder()
    order.take(1, 9, 5, "b9")
    order.take(2, 4, 0, "b4")
    assert sorted(order.reset()) == ["b4", "b9"]
    assert order.reset() == []
    assert order.take(1, 5, 5, "b5") == (["b5"], [])
