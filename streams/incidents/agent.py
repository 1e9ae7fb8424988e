"""The Faust side of the incident engine: the tables (with changelogs) and the agent that feeds
bundles to the Engine. Thin on purpose: decisions live in logic.py, the overlay and commit order
in engine.py. Bundles are acked only after their rows are stored and their messages sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING

import faust
import msgspec
from faust.serializers import codecs
from faust.types import TP

from cityops.schemas.topics import Topics
from cityops.settings import Settings
from cityops.storage.client import connect
from cityops.storage.writer import ClickHouseWriter
from cityops.streams.clock import Clock
from cityops.streams.faust_patches import (
    accept_gap,
    committed_offset,
    forget_acks,
    release,
    release_all,
)
from cityops.streams.halt import halt
from cityops.streams.incidents import rows
from cityops.streams.incidents.engine import Engine, restore_query, restore_since
from cityops.streams.incidents.model import Bundle, Incident
from cityops.streams.incidents.policy import Policy
from cityops.streams.incidents.repeat import Candidate
from cityops.streams.incidents.store import (
    BUCKET_CACHE_ITEMS,
    FaustStore,
    bucket_partition,
    incident_partition,
)
from cityops.streams.kafka import Outbox, producer
from cityops.streams.metrics import EngineMetrics

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

log = logging.getLogger(__name__)


class _Msgpack(codecs.Codec):
    """A msgspec MessagePack codec for one type (checked in tests: it is the codec in use)."""

    def __init__(self, kind=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.encoder = msgspec.msgpack.Encoder()
        self.decoder = msgspec.msgpack.Decoder(kind) if kind else msgspec.msgpack.Decoder()

    def _dumps(self, obj) -> bytes:
        return self.encoder.encode(obj)

    def _loads(self, s: bytes):
        return self.decoder.decode(s)


class _Utf8(codecs.Codec):
    def _dumps(self, obj) -> bytes:
        return obj.encode() if isinstance(obj, str) else bytes(obj)

    def _loads(self, s: bytes) -> str:
        return bytes(s).decode()


INCIDENT_CODEC = _Msgpack(Incident)
BUCKET_CODEC = _Msgpack(list[Candidate])
codecs.register("cityops_key", _Utf8())
codecs.register("cityops_incident", INCIDENT_CODEC)
codecs.register("cityops_bucket", BUCKET_CODEC)
_bundle = msgspec.msgpack.Decoder(Bundle)


def _table(app: faust.App, name: str, value_serializer: str, partitions: int):
    """A Table whose changelog uses our codecs (Faust would pick JSON from the value type)."""
    changelog = app.topic(
        f"{app.conf.id}-{name}-changelog",
        key_serializer="cityops_key",
        value_serializer=value_serializer,
        partitions=partitions,
        internal=True,
        compacting=True,
        acks=False,
        maxsize=131_072,
        allow_empty=True,
    )
    table = app.Table(name, partitions=partitions, default=None, changelog_topic=changelog)
    # Faust's TableT protocol leaves out the serializer attributes every Table has.
    table.key_serializer = "cityops_key"  # type: ignore[attr-defined]
    table.value_serializer = value_serializer  # type: ignore[attr-defined]
    return table


class CommitTiming:
    """Commits since the last report: how many, rows per commit, and the slowest store (the
    ClickHouse inserts) and landing (inserts, sends, installs, acks), for the worker's log."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.commits = self.rows = 0
        self.store_max = self.land_max = 0.0

    def add(self, rows: int, store: float, land: float) -> None:
        self.commits += 1
        self.rows += rows
        self.store_max = max(self.store_max, store)
        self.land_max = max(self.land_max, land)

    def report(self) -> str:
        text = (
            f"{self.commits} commits, {self.rows // max(self.commits, 1)} rows each, "
            f"slowest store {self.store_max:.2f} s, landing {self.land_max:.2f} s"
        )
        self.reset()
        return text


class BundleOrder:
    """Applies each partition's bundles in offset order from where it resumed (order per street).

    After a rebalance Faust may still deliver a bundle it fetched before the seek to the committed
    offset: a restarted worker was seen to get offset 2 of a partition committed at 0, before 0
    and 1. A bundle ahead of the expected offset is held (kept, not applied, not acked) and
    applied as soon as the ones before it were; one delivered again replaces the held copy. A
    partition whose log really skips offsets (a broker crash can leave such a hole, and the
    fetcher then delivers what follows it) is accepted after `max_skips` deliveries past the
    hole: the held bundles are applied in offset order, loudly. Held bundles are never dropped
    for a hole: dropping them lost every event they carried (seen after a durable broker crash).
    After `reseek_after` deliveries past the expected offset the agent makes the consumer fetch
    again from it (`reseek`): a consumer was seen past a bundle it never delivered, which a fresh
    fetch returned. Held bundles are released before a rebalance waits for acks, and applied by
    `ripe` once the seek tells the committed offset they were waiting for.
    """

    def __init__(self, max_skips: int = 100, reseek_after: int = 10, name: str = "bundles") -> None:
        self.name = name  # the topic's short name, in the log lines
        self.max_skips = max_skips
        self.reseek_after = reseek_after
        # partition -> the offset the consumer should fetch from again (see `take`)
        self.reseek: dict[int, int] = {}
        self._next: dict[int, int] = {}
        self._skipped: dict[int, int] = {}
        self._held: dict[int, dict[int, object]] = {}
        # partition -> the first offset after a gap applied past (see faust_patches.accept_gap)
        self.gaps: dict[int, int] = {}

    def reset(self) -> list:
        """A new assignment: each partition starts again at its committed offset. Returns the
        held bundles (the caller releases them: they come again from the new position)."""
        self._next.clear()
        self._skipped.clear()
        self.reseek.clear()
        held = [payload for kept in self._held.values() for payload in kept.values()]
        self._held.clear()
        return held

    def take(self, partition: int, offset: int, committed: int, payload) -> tuple[list, list]:
        """(to apply now in this order, replaced copies to release) for a bundle delivered at
        `offset` of `partition` whose group offset is `committed`."""
        expected = self._next.get(partition, committed)
        held = self._held.setdefault(partition, {})
        if offset < expected:  # delivered again: applied again (idempotent by event id)
            return [payload], []
        replaced = [held[offset]] if offset in held else []
        held[offset] = payload
        if offset == expected:
            self._skipped[partition] = 0
            return self._drain(partition, expected), replaced
        skipped = self._skipped.get(partition, 0)
        if skipped < self.max_skips:
            self._skipped[partition] = skipped + 1
            if skipped + 1 == self.reseek_after:
                # The consumer's position went past the expected bundle without delivering it
                # (seen after a worker was killed: a fresh consumer read it from the committed
                # offset, the engine's never got it). Fetch again from there before any hole
                # is accepted; a real hole is skipped again and accepted as before.
                log.warning(
                    "%s partition %d: %d bundles after offset %d and not it; "
                    "fetching again from it",
                    self.name,
                    partition,
                    self.reseek_after,
                    expected,
                )
                self.reseek[partition] = expected
            if not skipped:
                log.warning(
                    "%s partition %d: bundle at offset %d before %d; holding it until the ones "
                    "before it arrive",
                    self.name,
                    partition,
                    offset,
                    expected,
                )
            return [], replaced
        # The log does not have them. Applied past, but never committed across the hole
        # (faust_patches.commit_ready): a restart re-reads from before it. Missing bundles
        # mean the broker lost records it had counted; an operator must look.
        first = min(held)
        log.error(
            "%s partition %d: offsets %d-%d never arrived after %d deliveries past them; "
            "the log does not have them (a broker crash can leave such a hole): applying the "
            "%d bundles held from offset %d on",
            self.name,
            partition,
            expected,
            first - 1,
            skipped,
            len(held),
            first,
        )
        offsets = sorted(held)
        # Every offset before the last held one was applied or is not in the log: commits
        # may pass them all (a second, smaller hole among the held ones included).
        self.gaps[partition] = offsets[-1]
        self._skipped[partition] = 0
        out = [held.pop(o) for o in offsets]
        self._next[partition] = max(expected, offsets[-1] + 1)
        return out + self._drain(partition, self._next[partition]), replaced

    def ripe(self, committed_of) -> list:
        """The held bundles that may apply now that the committed offsets are known (a bundle
        fetched before the seek after a rebalance is held against the offset Faust knew then;
        the seek's answer may arrive with nothing more delivered for that partition, and a
        held bundle nobody applies blocks the next rebalance). `committed_of(partition)`."""
        out: list = []
        for partition, held in self._held.items():
            if held:
                expected = self._next.get(partition, committed_of(partition))
                if expected in held:
                    self._skipped[partition] = 0
                    out += self._drain(partition, expected)
        return out

    def _drain(self, partition: int, start: int) -> list:
        """The held bundles from `start` on while consecutive; the next expected offset moves
        past them."""
        held = self._held.get(partition, {})
        out, at = [], start
        while at in held:
            out.append(held.pop(at))
            at += 1
        self._next[partition] = max(at, self._next.get(partition, at))
        return out

    def admit(self, partition: int, offset: int, committed: int) -> bool:
        """Whether the bundle at `offset` is applied now (with any held ones it frees)."""
        return bool(self.take(partition, offset, committed, offset)[0])


async def deliver(order: BundleOrder, consumer, message, payload) -> list:
    """`order.take` for a delivered bundle, with its effects on Faust's consumer: replaced
    copies released, an accepted gap recorded for the commit, a fetch again from the expected
    offset. The bundles to apply now, in order."""
    tp = message.tp
    ready, replaced = order.take(
        message.partition, message.offset, committed_offset(consumer, tp), payload
    )
    for old in replaced:  # an older copy of a held bundle: never applied, never acked
        release(consumer, old.message)
    if (gap := order.gaps.pop(message.partition, None)) is not None:
        accept_gap(tp, gap)
    if (again := order.reseek.pop(message.partition, None)) is not None:
        await consumer.seek(tp, again)
    return ready


def ripe(order: BundleOrder, consumer, topic: str) -> list:
    """`order.ripe` with the committed offsets Faust's consumer knows for `topic`."""
    return order.ripe(lambda p: committed_offset(consumer, TP(topic, p)))


def release_held(order: BundleOrder, consumer) -> None:
    """Before a rebalance waits for the acks of delivered bundles, and on a new assignment: the
    held ones are never acked (not applied, not committed: they come again from the committed
    offsets to whoever gets their partitions)."""
    for held in order.reset():
        release(consumer, held.message)


class Runtime:
    """Holds the engine, the un-acked bundles and the producer of one worker."""

    def __init__(self, app: faust.App, settings: Settings, policy: Policy, clock: Clock) -> None:
        self.settings, self.clock = settings, clock
        topics = Topics(settings.topic_prefix)
        partitions = settings.partitions
        self.incidents_table = _table(app, "incidents", "cityops_incident", partitions)
        self.repeats_table = _table(app, "repeats", "cityops_bucket", partitions)
        self.incidents = FaustStore(
            self.incidents_table, INCIDENT_CODEC, incident_partition(partitions)
        )
        self.repeats = FaustStore(
            self.repeats_table, BUCKET_CODEC, bucket_partition(partitions), BUCKET_CACHE_ITEMS
        )
        self.writer = ClickHouseWriter(settings.clickhouse, max_delay=settings.flush_seconds)
        self.engine = Engine(self.incidents, self.repeats, self.writer, topics, partitions, policy)
        self.engine.outbox = self.outbox()
        self.lock = asyncio.Lock()
        self.unacked: list = []
        self.stream: faust.StreamT | None = None  # set by the agent when it starts
        self.kafka: AIOKafkaProducer | None = None
        self._snapshots: dict[int, list[Incident]] | None = None
        self.bundles = 0
        self.timing = CommitTiming()
        self.metrics = EngineMetrics()  # the worker's /metrics (streams/probe_server.py)
        self.inflight: asyncio.Future | None = None  # the commit being stored (one at a time)
        self._seen: set[int] = set()
        self.order = BundleOrder()
        self.app = app

    def outbox(self) -> Outbox:
        """Where a commit's messages and changelog records gather: nothing over the limit."""
        return Outbox(self.settings.max_message_bytes)

    async def start(self) -> None:
        self.kafka = producer(self.settings.kafka, f"{self.settings.topic_prefix}engine")
        await self.kafka.start()

    async def ready(self) -> None:
        while self.kafka is None:  # the producer starts with the app (streams/app.py)
            await asyncio.sleep(0.05)

    async def on_bundle(self, event) -> None:
        await self.ready()
        for each in await deliver(self.order, self.app.consumer, event.message, event):
            await self._apply(each)

    async def _apply(self, event) -> None:
        message = event.message
        partition = message.partition
        if partition not in self._seen:
            # Where this worker resumed, per partition (recovery after a crash is checked by it).
            self._seen.add(partition)
            log.info("partition %d: first bundle at offset %d", partition, message.offset)
        bundle = _bundle.decode(event.value)
        async with self.lock:
            if self.engine.needs_restore(partition):
                await self._restore(partition)
            self.engine.apply(partition, bundle.items)
            self.unacked.append(event)
            self.bundles += 1
            if self.bundles % 500 == 0:
                log.info(
                    "incident engine: %d bundles, %d changes, %d rejects; %s",
                    self.bundles,
                    self.engine.applied,
                    self.engine.rejected,
                    self.timing.report(),
                )
            if self.writer.due() or len(self.unacked) >= 200:
                await self._commit()

    async def apply_ripe(self) -> None:
        """Applies the held bundles the committed offsets now allow (`BundleOrder.ripe`)."""
        topic = Topics(self.settings.topic_prefix).bundles
        for each in ripe(self.order, self.app.consumer, topic):
            await self._apply(each)

    async def settle(self) -> None:
        """Stores and acks every bundle applied so far (Faust waits for those acks before a
        rebalance or a stop goes on)."""
        if self.kafka is None:
            return
        async with self.lock:
            if self.unacked:
                await self._commit()
            await self._landing()

    async def finish(self, consumer) -> None:
        """On shutdown, once Faust stopped delivering: `settle()`, then stop waiting for the
        bundles Faust buffered but never gave to the agent (their acks would never come and
        Faust would wait for them until killed; they are not committed, so the next worker gets
        them again)."""
        await self.settle()
        async with self.lock:
            release_all(consumer)

    async def commit_if_due(self) -> None:
        async with self.lock:
            if self.inflight is not None:
                if not self.inflight.done():
                    return  # the next tick looks again; bundles keep applying meanwhile
                await self._landing()
            if self.unacked and (self.writer.due() or not self.writer.pending):
                await self._commit()

    async def _commit(self) -> None:
        """Hands everything applied so far to a background commit (`_land`), after the one
        before it has landed, and returns: the next bundles apply into a fresh overlay while
        ClickHouse and the broker store this one (the engine reads the commit in flight until
        it has landed). Runs under `self.lock`."""
        await self._landing()
        incidents, repeats = self.engine.table_writes()
        batch = self.writer.detach()
        outbox, self.engine.outbox = self.engine.outbox, self.outbox()
        events, self.unacked = self.unacked, []
        self.inflight = asyncio.ensure_future(self._land(batch, outbox, incidents, repeats, events))

    async def _landing(self) -> None:
        """Waits for the commit in flight; its failure stops the worker here."""
        if self.inflight is not None:
            inflight = self.inflight
            try:
                await inflight
            finally:
                if inflight.done():
                    self.inflight = None

    async def _land(self, batch, outbox: Outbox, incidents, repeats, events) -> None:
        """Store rows → send messages and changelogs → install table values → ack bundles."""
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        sizes = {table: len(rows) for table, rows in batch.items()}
        rows = await loop.run_in_executor(None, self.writer.flush, batch)
        stored = time.monotonic()
        for partition, items in incidents.items():
            self.incidents.changelog(outbox, partition, items)
        for partition, items in repeats.items():
            self.repeats.changelog(outbox, partition, items)
        await outbox.send(self.kafka)
        for partition, items in incidents.items():
            self.incidents.install(partition, items)
        for partition, items in repeats.items():
            self.repeats.install(partition, items)
        self.engine.landed()
        generation = self.app.consumer_generation_id
        for event in events:
            # A bundle delivered before a rebalance is stored but not acked: after the
            # rebalance its partition restarts from the committed offset (maybe on another
            # worker), and an ack from the old assignment must not move that offset.
            if event.message.generation_id in (None, generation):
                assert self.stream is not None  # the events came from it
                await self.stream.ack(event)
        self.timing.add(rows, stored - started, time.monotonic() - started)
        self.metrics.landed(sizes, time.monotonic() - started)

    async def _restore(self, partition: int) -> None:
        """The broker lost the changelogs: reload open incidents of `partition` from ClickHouse."""
        if self._snapshots is None:
            loop = asyncio.get_running_loop()
            started = time.monotonic()
            states = await loop.run_in_executor(None, self._load_snapshots)
            grouped: dict[int, list[Incident]] = defaultdict(list)
            for incident in states:
                grouped[self.engine.partition_of(incident.id)].append(incident)
            self._snapshots = grouped
            log.info(
                "loaded %d incident snapshots from ClickHouse in %.1f s",
                len(states),
                time.monotonic() - started,
            )
        installed = self.engine.restore(partition, self._snapshots.pop(partition, []))
        if installed:
            log.info("partition %d: restored %d incidents from ClickHouse", partition, installed)

    def _load_snapshots(self) -> list[Incident]:
        since = restore_since(self.clock.now(), self.engine.policy)
        while True:
            try:
                client = connect(self.settings.clickhouse)
                try:
                    result = client.execute(
                        restore_query(self.settings.clickhouse.database), {"since": since}
                    )
                finally:
                    client.disconnect()
                return [rows.decode_state(state) for (state,) in result]
            except Exception as exc:  # noqa: BLE001 - ClickHouse down: wait, never skip
                log.warning("cannot read incident snapshots from ClickHouse (%s); retrying", exc)
                time.sleep(1.0)


def attach(app: faust.App, settings: Settings, policy: Policy, clock: Clock) -> Runtime:
    """Declares the tables and the agent on `app`; returns the runtime they share."""
    runtime = Runtime(app, settings, policy, clock)
    topic = app.topic(
        Topics(settings.topic_prefix).bundles,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )

    @app.agent(topic, concurrency=1, name="incidents")
    async def incidents(stream):
        # Manual acks: a bundle is acked once its rows are stored (Runtime._commit).
        runtime.stream = stream.noack()
        async for event in runtime.stream.events():
            try:
                await runtime.on_bundle(event)
            except Exception:
                # Not `raise`: Faust's agent supervisor would restart the agent without this
                # bundle, and the commits would stay stuck behind it (docs/engine.md).
                log.exception("incident engine failed on a bundle; stopping the worker")
                halt()

    # A quarter of flush_seconds: a row waits at most flush_seconds plus a quarter of it.
    @app.timer(interval=settings.flush_seconds / 4)
    async def flush_timer():
        if runtime.kafka is None:
            return
        try:
            await runtime.apply_ripe()
            await runtime.commit_if_due()
        except Exception:
            log.exception("incident engine failed to commit; stopping the worker")
            halt()

    # Faust's hint wants a `signal` keyword parameter; the handler takes it through **kwargs.
    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(app, assigned, **kwargs):
        release_held(runtime.order, app.consumer)  # they come again from the new positions
        bundles = Topics(settings.topic_prefix).bundles
        forget_acks(app.consumer, [tp for tp in assigned if tp.topic == bundles])
        runtime.engine.forget_timers()
        runtime.repeats.forget()

    return runtime
