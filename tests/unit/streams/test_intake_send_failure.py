"""The bridge when the broker does not acknowledge a step's bundles (Bridge._step): the read
position goes back to the step's first events and the committed offset never passes them, so the
next successful step bundles them (at-least-once; the engine drops the duplicates)."""

import asyncio

import msgspec
import pytest
from aiokafka.errors import NodeNotReadyError
from aiokafka.structs import ConsumerRecord, TopicPartition

from cityops.bench.events import sample_reports
from cityops.schemas.registry import load_registry
from cityops.streams.clock import Clock
from cityops.streams.incidents.model import Bundle, ReportIn
from cityops.streams.intake import (
    Bridge,
    StepStalled,
    first_offsets,
    retry_delay,
    rewind,
    step_within,
)

TOPIC = "city.events"
P0, P1, P2 = (TopicPartition(TOPIC, p) for p in range(3))


class LogConsumer:
    """A consumer over an in-memory log per partition: getmany reads from the position and
    moves it; seek and commit are recorded (what AIOKafkaConsumer does with them)."""

    def __init__(self, logs: dict[TopicPartition, list[tuple[bytes, bytes]]], per_fetch: int):
        self.logs = logs
        self.position = {tp: 0 for tp in logs}
        self.per_fetch = per_fetch
        self.committed: dict[TopicPartition, int] = {}
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.held = set(logs)
        self.held_paused: set[TopicPartition] = set()  # the bridge pauses between steps

    async def getmany(self, timeout_ms, max_records):
        batches = {}
        for tp, log in self.logs.items():
            start = self.position[tp]
            pairs = log[start : start + self.per_fetch]
            if pairs:
                batches[tp] = [
                    ConsumerRecord(
                        TOPIC,
                        tp.partition,
                        start + i,
                        1_700_000_000_000,
                        0,
                        key,
                        value,
                        None,
                        len(key),
                        len(value),
                        [],
                    )  # fmt: skip
                    for i, (key, value) in enumerate(pairs)
                ]
                self.position[tp] = start + len(pairs)
        return batches

    def assignment(self):
        return set(self.held)

    def paused(self):
        return set(self.held_paused)

    def pause(self, *partitions):
        self.held_paused |= set(partitions)

    def resume(self, *partitions):
        self.held_paused -= set(partitions)

    def seek(self, tp, offset):
        self.seeks.append((tp, offset))
        self.position[tp] = offset

    async def commit(self, offsets):
        self.committed.update(offsets)

    def highwater(self, tp):
        return len(self.logs[tp])


class FlakyProducer:
    """Acknowledges every batch, except while `down`: then each send fails as aiokafka's does
    with the broker gone."""

    def __init__(self) -> None:
        self.down = False
        self.silent = False  # sends are taken and never answered (neither ack nor error)
        self.sent: list[bytes] = []

    def create_batch(self):
        return _Batch()

    async def send_batch(self, batch, topic, partition):
        future = asyncio.get_running_loop().create_future()
        if self.silent:
            return future  # never answered
        if self.down:
            future.set_exception(NodeNotReadyError("broker gone"))
        else:
            self.sent.extend(batch.values)
            future.set_result(None)
        return future


class _Batch:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    def append(self, *, key, value, timestamp, headers):
        self.values.append(value)
        return True


def make_bridge() -> Bridge:
    return Bridge(
        bootstrap="unused:9092",
        source=TOPIC,
        bundles="bundles",
        group="g",
        partitions=4,
        clock=Clock(),
        registry=load_registry(),
        tick_seconds=3600.0,
        linger=0,
    )


def report_ids(sent: list[bytes]) -> list[str]:
    decoder = msgspec.msgpack.Decoder(Bundle)
    return [i.id for b in sent for i in decoder.decode(b).items if isinstance(i, ReportIn)]


def test_a_failed_send_rewinds_and_the_next_step_sends_those_events():
    pairs = sample_reports(30, seed=3, run="f")
    consumer = LogConsumer({P0: pairs[:15], P1: pairs[15:]}, per_fetch=5)
    kafka = FlakyProducer()
    bridge = make_bridge()

    async def scenario():
        await bridge._step(consumer, kafka)  # offsets 0-4 of both partitions sent
        assert consumer.committed == {P0: 5, P1: 5}
        kafka.down = True
        with pytest.raises(NodeNotReadyError):
            await bridge._step(consumer, kafka)  # 5-9 fetched, not acknowledged
        # The position is back at the step's first events; nothing committed past them.
        assert consumer.position == {P0: 5, P1: 5}
        assert consumer.committed == {P0: 5, P1: 5}
        kafka.down = False
        for _ in range(3):
            await bridge._step(consumer, kafka)

    asyncio.run(scenario())
    assert consumer.committed == {P0: 15, P1: 15}
    assert sorted(report_ids(kafka.sent)) == sorted(f"f-{i}" for i in range(30))


def test_a_failed_first_step_commits_nothing_and_reads_again_from_the_start():
    pairs = sample_reports(10, seed=3, run="g")
    consumer = LogConsumer({P0: pairs}, per_fetch=5)
    kafka = FlakyProducer()
    kafka.down = True
    with pytest.raises(NodeNotReadyError):
        asyncio.run(make_bridge()._step(consumer, kafka))
    assert consumer.position == {P0: 0}, "the read position stayed past unsent events"
    assert consumer.committed == {}


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        ({}, {}),
        ({P0: []}, {}),
        ({P0: [7, 8, 9]}, {P0: 7}),
        ({P0: [3], P1: [40, 41], P2: []}, {P0: 3, P1: 40}),
    ],
)
def test_first_offsets_are_each_partitions_first_fetched_offset(batches, expected):
    records = {
        tp: [ConsumerRecord(TOPIC, tp.partition, o, 0, 0, None, b"", None, 0, 0, []) for o in offs]
        for tp, offs in batches.items()
    }
    assert first_offsets(records) == expected


def test_rewind_only_seeks_partitions_still_held():
    consumer = LogConsumer({P0: [], P1: []}, per_fetch=1)
    consumer.held = {P0}  # P1 went to another worker in a rebalance: it resumes from committed
    assert rewind(consumer, {P0: 4, P1: 9}) == {P0: 4}
    assert consumer.seeks == [(P0, 4)]


@pytest.mark.parametrize(
    ("failures", "delay"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 5.0), (50, 5.0)]
)
def test_retry_delay_backs_off_to_five_seconds(failures, delay):
    assert retry_delay(failures) == delay


def test_a_send_that_never_answers_ends_the_step_rewound_and_raises_step_stalled():
    pairs = sample_reports(20, seed=4, run="h")
    consumer = LogConsumer({P0: pairs}, per_fetch=5)
    kafka = FlakyProducer()
    bridge = make_bridge()

    async def scenario():
        await bridge._step(consumer, kafka)
        kafka.silent = True
        with pytest.raises(StepStalled):
            await step_within(bridge._step(consumer, kafka), 0.2)
        assert consumer.position == {P0: 5}, "the read position stayed past unsent events"
        assert consumer.committed == {P0: 5}
        kafka.silent = False  # a restarted bridge (fresh clients) goes on from the commit
        for _ in range(3):
            await bridge._step(consumer, kafka)

    asyncio.run(scenario())
    assert consumer.committed == {P0: 20}
    assert sorted(set(report_ids(kafka.sent))) == sorted(f"h-{i}" for i in range(20))


def test_step_within_passes_a_steps_own_error_and_result_through():
    async def fails():
        raise TimeoutError("the step's own timeout, not a stall")

    async def scenario():
        await step_within(asyncio.sleep(0), 1.0)
        with pytest.raises(TimeoutError, match="own timeout"):
            await step_within(fails(), 1.0)

    asyncio.run(scenario())
