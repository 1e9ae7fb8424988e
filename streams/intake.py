"""The intake bridge: a plain aiokafka loop in every worker that reads city.events a fetched batch
at a time, validates and enriches each event, and packs the results into one bundle message per
bundle partition (the street's partition; the district's for a report of a district-scope repeat
rule) for the Faust incident agent. Faust then pays its per-message cost once per bundle, not once
per event (docs/architecture.md).

Invalid events travel in the bundles too (as RejectIn), so the engine stores and publishes every
reject with the rest; the bridge commits its city.events offsets only after the broker has
acknowledged the bundles: at-least-once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import msgspec
from aiokafka import AIOKafkaConsumer

from cityops.kafka_connection import KafkaConnection, kafka_connection
from cityops.schemas.claims import item_key
from cityops.schemas.event_types import (
    PLATFORM_ID_PREFIX,
    Action,
    Annotation,
    Claim,
    InvalidEvent,
    Reading,
    Report,
)
from cityops.schemas.events import parse_event
from cityops.schemas.registry import Registry
from cityops.streams.clock import Clock
from cityops.streams.incidents.logic import partition_key_of
from cityops.streams.incidents.model import ActionIn, Bundle, Item, RejectIn, ReportIn, Tick
from cityops.streams.incidents.policy import Policy
from cityops.streams.incidents.repeat import scope_key
from cityops.streams.incidents.routing import chain_of
from cityops.streams.incidents.rows import reject_id_for
from cityops.streams.kafka import (
    INTERNAL_COMPRESSION,
    MAX_RECORD_BYTES,
    Outbox,
    partition_for,
    producer,
)
from cityops.streams.readings.bridge import (
    add_readings,
    heard,
    heard_groups,
    reading_item,
    unrouted,
)
from cityops.streams.readings.model import ClockTick, ReadingIn, ReadingItem
from cityops.streams.readings.rules import Feed

log = logging.getLogger(__name__)
BUNDLE_MAX_ITEMS = 2_000
BUNDLE_MAX_BYTES = 700_000
LINGER_SECONDS = 0.1  # how long a fetch with fewer than LINGER_ITEMS waits for more
LINGER_ITEMS = 2_000
# Events taken per step (one batch of bundles sent, then offsets committed). Every event of a
# step is held several times over until its bundles are acknowledged (fetched record, decoded
# item, encoded bundle, producer buffer): the step's size is most of the bridge's memory.
STEP_MAX_ITEMS = 8_000
_bundle_encoder = msgspec.msgpack.Encoder()
_VERB_AT = len("city.incident.")


def encode_bundle(items: list[Item]) -> bytes:
    return _bundle_encoder.encode(Bundle(items))


def to_item(
    value: bytes | None,
    headers,
    key: bytes | None,
    timestamp_ms: int,
    where: str,
    *,
    now: datetime,
    clock: Clock,
    registry: Registry,
    policy: Policy | None = None,
) -> tuple[str, Item | None]:
    """(routing key, item) for one city.events message; never raises for bad input. A valid
    claim or annotation event gives no item: the claims consumer applies or stores it
    (streams/claims/service.py).

    A report's routing key is its street, or its district when `policy` gives its category a
    district-scope repeat rule (a wide matter such as a gas leak is found across street borders,
    docs/engine.md); without a policy, always the street.

    `where` ("topic/partition/offset") identifies the message for a deterministic reject id;
    `received_at` is the broker's timestamp, so a redelivery yields identical rows.
    """
    received_at = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    try:
        event = parse_event(value or b"", headers or None, now=now, registry=registry)
    except InvalidEvent as exc:
        reject = RejectIn(
            reject_id=reject_id_for(where),
            received_at=received_at,
            reason=exc.reason,
            path=exc.path,
            raw=value or b"",
            event_id=exc.event_id or "",
            source=exc.source or "",
            type=exc.type or "",
        )
        return (key or b"").decode("utf-8", "replace") or reject.reject_id, reject
    data = event.data
    if isinstance(data, Claim):
        return item_key(data.item_id), None
    if isinstance(data, Annotation):  # a warning period: stored, never an incident
        return data.district or "city", None
    at = clock.of(event.time)
    if isinstance(data, Reading):
        # Not an incident: stored and evaluated by the readings agent (streams/readings/).
        return reading_item(event, data, at, received_at)  # type: ignore[return-value]
    if isinstance(data, Report):
        location = data.location
        chain = chain_of(
            {
                "district": location.district,
                "street": location.street,
                "community": location.community,
                "grid": location.grid,
                "micro_grid": location.micro_grid,
            }
        )
        report = ReportIn(
            id=event.id,
            department=event.department,
            at=at,
            report=data,
            chain=chain,
            received_at=received_at,
            raw=event.raw,
            time=event.time,
        )
        if policy is not None:
            scope = scope_key(chain, policy.repeat_rule(data.category))
            if scope != chain.key:
                report.scope = scope
                return scope, report
        return chain.key, report
    assert isinstance(data, Action)
    verb = event.type[_VERB_AT:].split(".", 1)[0]
    # Actions go to the incident's partition: its street (or district) code leads its id.
    routing = partition_key_of(data.incident_id) or event.partitionkey or data.incident_id
    item = ActionIn(
        id=event.id,
        verb=verb,
        department=event.department,
        at=at,
        action=data,
        received_at=received_at,
        raw=event.raw,
        time=event.time,
        key=routing,
    )
    return routing, item


class Bridge:
    """city.events → bundles, with a clock tick per bundle partition every `tick_seconds`."""

    def __init__(
        self,
        *,
        bootstrap: KafkaConnection | str,
        source: str,
        bundles: str,
        group: str,
        readings: str | None = None,
        claims: str | None = None,
        partitions: int,
        clock: Clock,
        registry: Registry,
        tick_seconds: float,
        max_wait: float = 0.1,
        linger: float = LINGER_SECONDS,
        min_items: int = LINGER_ITEMS,
        fetch_wait_ms: int = 50,
        policy: Policy | None = None,
        groups: tuple[Feed, ...] = (),
    ) -> None:
        self.bootstrap, self.source, self.bundles = bootstrap, source, bundles
        self.readings = readings  # None: readings are refused (a bridge without that path)
        self.claims = claims  # None: claim events are refused likewise
        self.groups = groups  # sensor-group feeds whose heartbeats this bridge sends
        self.group, self.partitions = group, partitions
        self.clock, self.registry = clock, registry
        # The engine's policy: which categories a report is routed by its district (None: all
        # by street; the engine follows whichever key a report came with, ReportIn.scope).
        self.policy = policy
        self.tick_seconds, self.max_wait = tick_seconds, max_wait
        self.linger, self.min_items = linger, min_items
        self.fetch_wait_ms = fetch_wait_ms
        self.sent_bundles = 0
        # Shared with the worker's /metrics when the bridge runs in a child process
        # (streams/metrics.py BridgeCounters); None: not counted.
        self.counters = None
        self.stopping = asyncio.Event()
        self.forwarded = 0
        self._last_tick = 0.0
        self._last_report = 0.0
        self._last_lag = 0.0
        self._committed: dict = {}  # TopicPartition → offset this process committed last
        self._linger_next = False  # the last take was short: linger (paused) before the next
        self.step_timeout = STEP_TIMEOUT_SECONDS

    async def run(self) -> None:
        consumer = self.consumer()
        kafka = producer(self.bootstrap, f"{self.group}-producer", compression=INTERNAL_COMPRESSION)
        await kafka.start()
        await consumer.start()
        failures = 0
        try:
            while not self.stopping.is_set():
                try:
                    await step_within(self._step(consumer, kafka), self.step_timeout)
                    failures = 0
                except asyncio.CancelledError:
                    raise
                except StepStalled:
                    # A send or commit that never answers (seen once after a broker restart):
                    # the clients' state is suspect. Leave: the worker restarts the bridge,
                    # which resumes from the committed offsets (nothing acknowledged is lost).
                    log.error(
                        "intake bridge: a step made no progress for %.0f s; exiting to be "
                        "restarted",
                        self.step_timeout,
                    )
                    raise
                except Exception as exc:  # noqa: BLE001
                    # A failed send rewound the consumer to the step's first offsets (`_step`);
                    # a commit refused after a rebalance leaves sent bundles the next owner
                    # re-sends (the engine drops duplicates). Never die silently: log, back
                    # off, and go on from where nothing is lost.
                    failures += 1
                    delay = retry_delay(failures)
                    log.warning(
                        "intake bridge: %s: %s; retrying in %.1f s", type(exc).__name__, exc, delay
                    )
                    await asyncio.sleep(delay)
                finally:
                    if self.counters is not None:
                        self.counters.beat()
        finally:
            await asyncio.gather(
                asyncio.wait_for(consumer.stop(), CLOSE_TIMEOUT),
                asyncio.wait_for(kafka.stop(), CLOSE_TIMEOUT),
                return_exceptions=True,
            )

    def consumer(self) -> AIOKafkaConsumer:
        """The bridge's consumer of city.events (not started): manual commits only."""
        return AIOKafkaConsumer(
            self.source,
            **kafka_connection(self.bootstrap).aiokafka(),
            group_id=self.group,
            client_id=f"{self.group}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=1024 * 1024,
            fetch_max_bytes=8 * 1024 * 1024,
            fetch_max_wait_ms=self.fetch_wait_ms,  # settings.fetch_wait_ms
            session_timeout_ms=6_000,
            heartbeat_interval_ms=1_500,
            rebalance_timeout_ms=5_000,
            max_poll_interval_ms=600_000,
        )

    async def _step(self, consumer: AIOKafkaConsumer, kafka) -> None:
        batches = await self.gather(consumer)
        try:
            outbox, offsets = self.pack(batches)
            sent = await outbox.send(kafka) if len(outbox) else 0
        except BaseException:
            # Not acknowledged: the read position must not stay past the step's events, or
            # the next step would commit beyond them (they would never be bundled).
            rewind(consumer, first_offsets(batches))
            raise
        if sent:
            self.sent_bundles += sent
            if self.counters is not None:
                self.counters.add(bundles=sent)
        if offsets:
            await consumer.commit(offsets)
            self._committed.update(offsets)
        now = time.monotonic()
        if self.counters is not None and now - self._last_lag >= 1.0:
            self._last_lag = now
            self._report_lag(consumer)
        if now - self._last_report >= 10:
            self._last_report = now
            log.info(
                "intake bridge: %d events forwarded so far in %d bundles",
                self.forwarded,
                self.sent_bundles,
            )

    def _report_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Per held partition: the last fetch's high watermark minus the offset this process
        committed (a partition it fetched nothing from yet is at its high watermark). Not the
        broker's ListOffsets: Tansu answers the last batch's base offset + 1 there
        (docs/operations.md). Only reads the consumer's state: never waits, never raises."""
        lags = {}
        try:
            held = consumer.assignment()
            for tp in held:
                high = consumer.highwater(tp)
                if high is not None:
                    lags[tp.partition] = max(0, high - self._committed.get(tp, high))
            self._committed = {tp: o for tp, o in self._committed.items() if tp in held}
        except Exception:  # noqa: BLE001 - a rebalance under way: report next time
            return
        if self.counters is not None:
            self.counters.set_lags(lags)

    async def gather(self, consumer: AIOKafkaConsumer) -> dict:
        """One fetch round of every held partition, after a linger when the last one held
        fewer than `min_items` records.

        At moderate rates a single fetch holds a few events per partition, and every bundle
        costs the engine Faust's per-message work and a pass of its own; waiting ~0.1 s keeps
        bundles large (tens of events at 1,000 events/s instead of two or three) for a bounded
        delay. A surge fills `min_items` at once and the next step does not wait.

        Between a short take that held records and the next fetch round the partitions are
        paused: through the step's send and commit and the linger, the consumer sends nothing,
        so a step costs the broker one fetch that reads every partition's new records. Left
        running, the consumer fetches again as soon as a take has emptied its buffer and again
        whenever a fetch answers with nothing, and each fetch costs the embedded broker time in
        proportion to the batches the partition holds (docs/performance.md M-25, M-27, M-30).
        """
        if self._linger_next and self.linger > 0:
            try:
                await asyncio.wait_for(self.stopping.wait(), self.linger)
            except TimeoutError:
                pass
        # a rebalance meanwhile may have taken paused partitions away and given new (unpaused)
        # ones; resume what is still held and paused
        paused = consumer.paused()
        if paused:
            consumer.resume(*paused)
        batches = await consumer.getmany(
            timeout_ms=int(self.max_wait * 1000), max_records=STEP_MAX_ITEMS
        )
        count = sum(len(messages) for messages in batches.values())
        self._linger_next = count < self.min_items
        if 0 < count < self.min_items and self.linger > 0:
            # Records came back, so the fetch round has answered. (After an empty take a fetch
            # may still be on its way, slower than the take's wait on a slow store: what it
            # brings for a paused partition is dropped and read again by the next round, and
            # pausing after every empty take could starve the bridge.)
            held = consumer.assignment()
            if held:
                consumer.pause(*held)
        return batches

    def pack(self, batches) -> tuple[Outbox, dict]:
        """Validate and enrich a fetched batch; one bundle per partition, plus due ticks."""
        now = datetime.now(UTC)
        per_partition: dict[int, list[Item]] = {}
        readings: dict[int, list[ReadingItem]] = {}
        claims: list[tuple[str, bytes | None, bytes, list]] = []
        seen: dict[str, float] = {}  # department → its latest event (a feed's heartbeat)
        groups_seen: dict[str, tuple[str, float]] = {}  # sensor group → (department, latest)
        offsets = {}
        taken = refused = 0
        for tp, messages in batches.items():
            taken += len(messages)
            for msg in messages:
                key, item = to_item(
                    msg.value,
                    msg.headers,
                    msg.key,
                    msg.timestamp,
                    f"{tp.topic}/{tp.partition}/{msg.offset}",
                    now=now,
                    clock=self.clock,
                    registry=self.registry,
                    policy=self.policy,
                )
                if item is None:  # a claim step or an annotation: the claims consumer's, as is
                    where = f"{tp.topic}/{tp.partition}/{msg.offset}"
                    if self.claims is not None:
                        claims.append((key, msg.key, msg.value, list(msg.headers or ())))
                        continue
                    item = unrouted_claim(msg.value, msg.timestamp, reject_id_for(where))
                if isinstance(item, ReadingIn):
                    if self.readings is None:
                        where = f"{tp.topic}/{tp.partition}/{msg.offset}"
                        item = unrouted(item, msg.value, reject_id_for(where))
                    else:
                        partition = partition_for(key, self.partitions)
                        readings.setdefault(partition, []).append(item)
                        heard(seen, item.department, item.received_at)
                        if self.groups:
                            heard_groups(groups_seen, self.groups, item)
                        continue
                elif isinstance(item, ReportIn | ActionIn) and not item.id.startswith(
                    PLATFORM_ID_PREFIX  # the platform's own alarms are no feed's traffic
                ):
                    heard(seen, item.department, item.received_at.timestamp())
                per_partition.setdefault(partition_for(key, self.partitions), []).append(item)
                refused += isinstance(item, RejectIn)
            if messages:
                offsets[tp] = messages[-1].offset + 1
        if self.counters is not None and taken:
            self.counters.add(events_in=taken, rejected=refused)
        real = time.time()
        if real - self._last_tick >= self.tick_seconds:
            self._last_tick = real
            tick = Tick(self.clock.at(real))
            for partition in range(self.partitions):
                per_partition.setdefault(partition, []).append(tick)
                if self.readings is not None:
                    readings.setdefault(partition, []).append(ClockTick(tick.now.timestamp()))
        outbox = Outbox()
        for routing, message_key, value, headers in claims:
            outbox.add(
                self.claims,  # type: ignore[arg-type]  # claims are gathered only with a topic
                partition_for(routing, self.partitions),
                message_key,
                value,
                headers,
            )
        self.forwarded += len(claims)
        if self.readings is not None:
            self.forwarded += add_readings(
                outbox, self.readings, readings, seen, self.partitions, groups_seen
            )
        for partition, items in per_partition.items():
            self.forwarded += sum(1 for i in items if not isinstance(i, Tick))
            for chunk in _chunks(items):
                for bundle in encoded_bundles(chunk):
                    outbox.add(self.bundles, partition, str(partition).encode(), bundle)
        return outbox, offsets


def unrouted_claim(value: bytes | None, timestamp_ms: int, reject_id: str) -> RejectIn:
    """A claim or annotation event a bridge without the claims topic cannot pass on: stored as
    a reject."""
    return RejectIn(
        reject_id=reject_id,
        received_at=datetime.fromtimestamp(timestamp_ms / 1000, UTC),
        reason="claim and annotation events are not accepted here (no claims topic)",
        path="type",
        raw=value or b"",
    )


RETRY_MAX_SECONDS = 5.0
# A step is one fetch, its sends (a batch expires after the producer's 30-s request timeout)
# and a commit: far longer than that means a client waits for an answer that never comes.
STEP_TIMEOUT_SECONDS = 90.0
CLOSE_TIMEOUT = 10.0


class StepStalled(RuntimeError):
    """A bridge step did not finish within its bound."""


async def step_within(step, seconds: float) -> None:
    """Awaits `step`; past `seconds` it is cancelled (a failed send rewinds the read position
    on the way out, `Bridge._step`) and StepStalled is raised."""
    task = asyncio.ensure_future(step)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise StepStalled(f"step unfinished after {seconds:.0f} s")
    task.result()


def retry_delay(failures: int) -> float:
    """Back-off after `failures` failed steps in a row: 0.5 s doubling up to 5 s."""
    return min(RETRY_MAX_SECONDS, 0.5 * 2 ** max(0, failures - 1))


def first_offsets(batches) -> dict:
    """The offset of each partition's first fetched event of a step: where the consumer must
    read again when the step's bundles were not acknowledged."""
    return {tp: messages[0].offset for tp, messages in batches.items() if messages}


def rewind(consumer, offsets: dict) -> dict:
    """Seeks `consumer` back to `offsets` for the partitions it still holds; returns those. A
    partition taken away by a rebalance is not ours: its new owner resumes from the committed
    offset, which never passes an unacknowledged step."""
    held = consumer.assignment()
    done = {tp: offset for tp, offset in offsets.items() if tp in held}
    for tp, offset in done.items():
        consumer.seek(tp, offset)
    if done:
        log.warning(
            "intake bridge: bundles not acknowledged; read position rewound on %d partitions",
            len(done),
        )
    return done


def encoded_bundles(chunk: list[Item], limit: int = MAX_RECORD_BYTES) -> list[bytes]:
    """The chunk's bundle, split in halves while one is over `limit` bytes (`_chunks` weighs
    items by their raw bytes; long texts count about twice once decoded). Order kept; a single
    item is never split."""
    bundle = encode_bundle(chunk)
    if len(bundle) <= limit:
        return [bundle]
    if len(chunk) == 1:
        return [encode_bundle([_trimmed(chunk[0], len(bundle) - limit)])]
    half = len(chunk) // 2
    return encoded_bundles(chunk[:half], limit) + encoded_bundles(chunk[half:], limit)


def _trimmed(item: Item, excess: int) -> Item:
    """A single item over the record limit: only a refused event can be (a valid one is at most
    MAX_PAYLOAD_BYTES); its raw bytes are cut so it fits, and its reason says so."""
    if not isinstance(item, RejectIn):
        return item
    size = len(item.raw)
    # 4 KiB to spare: the engine republishes the raw bytes with headers (city.events.rejected).
    keep = max(0, size - excess - 4096)
    note = f" (raw bytes cut to {keep} of {size} to fit a Kafka record)"
    return msgspec.structs.replace(item, raw=item.raw[:keep], reason=item.reason + note)


def _chunks(items: list[Item]):
    """Bundles of at most BUNDLE_MAX_ITEMS items and about BUNDLE_MAX_BYTES, order kept."""
    chunk: list[Item] = []
    size = 0
    for item in items:
        weight = len(getattr(item, "raw", b"")) + 200
        if chunk and (len(chunk) >= BUNDLE_MAX_ITEMS or size + weight > BUNDLE_MAX_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += weight
    if chunk:
        yield chunk


__all__ = [
    "Bridge",
    "encode_bundle",
    "encoded_bundles",
    "first_offsets",
    "retry_delay",
    "rewind",
    "to_item",
]
