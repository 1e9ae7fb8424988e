"""Where faust-streaming 0.15.3 / aiokafka 0.14 needed correcting for the engine's at-least-once
promise (every bundle applied before its offset is committed) and for Tansu's fetch timing.
Each patch is applied once per process by `apply(bundles_topic)` (streams/app.py). They were
written against and verified with the versions in `VERIFIED`; `check_versions()` refuses to start
a worker on others. docs/faust-corrections.md reports each defect for upstream; each replaced
function keeps the upstream one as `__wrapped__` (tests/unit/streams/test_faust_surface.py pins
its signature).

Recovery after a SIGKILL was seen to skip the first bundles of a partition: a restarted worker
resumed at offset 1-10 while 0 was committed, and went on to commit past the bundles it never
applied (their events never reached ClickHouse). Three gaps in the libraries allow that; each
is closed here for the bundles topic, so that none of them alone can lose a bundle:
- aiokafka's `seek_to_committed()` does not seek a partition committed at offset 0;
- Faust drops every fetched message below its "read offset", and its fetch loop can set that
  offset after a rebalance's seek from a batch fetched before it (the message was never
  delivered), so the re-fetched bundles are dropped;
- Faust's commit does not check that the acked offsets start at the committed one when that is
  0 (and lets one missing offset through otherwise), so it commits past the dropped bundles.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from importlib import metadata

# The patches replace methods of library classes in place and mark them (`__wrapped__`, the
# `_cityops_*` flags); the `type: ignore`s below are on exactly those assignments, which the
# libraries' types do not allow for.

log = logging.getLogger(__name__)
# The library versions the patches replace code of (and the private attributes below were read
# from); mode-streaming is only called through its public methods.
VERIFIED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}
REPORT = "docs/faust-corrections.md"
# Tansu holds a fetch until its max wait runs out even when records arrive meanwhile (measured:
# a record waits up to the whole max wait); Faust 0.15.3 hardcodes 1,500 ms for its consumer.
# 50 ms keeps publish→queryable well under a second at no measurable cost in throughput.
# The durable broker needs longer (settings.fetch_wait_ms, deploy/durable.py).
FETCH_MAX_WAIT_MS = 50
_bundle_topics: set[str] = set()
_fetch_wait = {"ms": FETCH_MAX_WAIT_MS}
# Records one poll of Faust's consumer hands over while it reads bundles. Faust keeps a poll's
# records until it has delivered the last of them, and with no cap (its default) a worker
# behind the bridge held all it had fetched: 195 bundles, 123 MB of decompressed values
# (measured at 380,000 incidents, bench memory). The stream buffer holds 16 bundles; a poll of
# 8 keeps the agent fed. Recovery (changelog partitions only) polls without the cap.
BUNDLE_POLL_RECORDS = 8


def apply(bundles_topic: str, fetch_wait_ms: int = FETCH_MAX_WAIT_MS) -> None:
    """Installs every patch (idempotent); `bundles_topic` gets the strict delivery and commit;
    Faust's consumers created from now on wait at most `fetch_wait_ms` per fetch."""
    _bundle_topics.add(bundles_topic)
    _fetch_wait["ms"] = fetch_wait_ms
    _short_fetch_wait()
    _bounded_poll()
    _seek_to_committed_zero()
    _deliver_every_bundle()
    _commit_only_contiguous()
    _true_highwaters()


def unverified(found: dict[str, str | None], verified: dict[str, str] = VERIFIED) -> str | None:
    """Why the installed versions (`found`, None: not installed) are not the ones the patches
    were verified with, as one line; None when they are."""
    if all(found.get(name) == version for name, version in verified.items()):
        return None

    def listed(versions) -> str:
        return ", ".join(f"{name} {versions.get(name) or 'missing'}" for name in verified)

    return (
        f"found {listed(found)}, but the Faust corrections (streams/faust_patches.py) were "
        f"verified with {listed(verified)}; see {REPORT}"
    )


def check_versions(allow_unverified: bool = False) -> None:
    """Refuses to start (SystemExit with one line, no traceback) unless the installed libraries
    are the verified versions; `allow_unverified` (CITYOPS_ALLOW_UNVERIFIED_FAUST, for testing a
    new version on purpose) only logs a warning."""
    found: dict[str, str | None] = {}
    for name in VERIFIED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    problem = unverified(found)
    if problem is None:
        return
    if allow_unverified:
        log.warning("%s; starting anyway (CITYOPS_ALLOW_UNVERIFIED_FAUST)", problem)
        return
    raise SystemExit(
        f"cityops worker refuses to start: {problem} "
        "(CITYOPS_ALLOW_UNVERIFIED_FAUST=true starts anyway, to test a new version)"
    )


def commit_ready(acked: list[int], committed: int | None, gap_end: int | None = None) -> bool:
    """May offsets be committed from the acked ones? Only when they start at the committed
    offset (the next one to apply; None: nothing committed yet, i.e. 0 since every bundle
    partition is seeded with 0): a bundle delivered late must not be passed over. `gap_end`:
    the offsets from the committed one up to it are known not to exist (`accept_gap`)."""
    if not acked:
        return False
    start = committed or 0
    return min(acked) <= start or (
        gap_end is not None and start < gap_end and min(acked) <= gap_end
    )


# Offsets a bundle partition's log does not have: after a broker crash the log can skip offsets
# (a batch that got its offsets but was never stored); a consumer sought to the committed offset
# then gets a later record first, every time. (topic, partition) -> the first offset after the gap.
_gaps: dict[tuple[str, int], int] = {}


def accept_gap(tp, first_after: int) -> None:
    """Records that the offsets before `first_after` (from the committed one) are not in `tp`'s
    log, so commits may pass them (BundleOrder decides it after many deliveries past them)."""
    key = (tp.topic, tp.partition)
    _gaps[key] = max(first_after, _gaps.get(key, 0))


# What the engine reads or changes of Faust's consumer bookkeeping, in one place with the patches
# that rely on it (private attributes of faust-streaming 0.15.3's Consumer).
def committed_offset(consumer, tp) -> int:
    """The group's committed offset of `tp` (Faust keeps 0 as None; every bundle partition is
    seeded with 0)."""
    return consumer._committed_offset.get(tp) or 0


def release(consumer, message) -> None:
    """Faust stops waiting for the ack of a delivered `message` the agent did not apply."""
    consumer._unacked_messages.discard(message)


def release_all(consumer) -> None:
    """Faust stops waiting for the acks of every message it delivered but the agent has not
    acked (on a stop, once what the agent applied is acked)."""
    consumer._unacked_messages.clear()


def forget_acks(consumer, tps) -> None:
    """Drops acks Faust kept for `tps` from an earlier assignment of them."""
    for tp in tps:
        consumer._acked.pop(tp, None)
        consumer._acked_index.pop(tp, None)


class ReadOffsets(defaultdict):
    """Faust's per-partition read offsets, with none for bundle partitions: no fetched bundle is
    ever dropped as "already read". A bundle delivered twice is applied twice, which is
    harmless: effects are idempotent by event id, as for any replay after a crash."""

    def __init__(self) -> None:
        super().__init__(lambda: None)

    def __getitem__(self, tp):
        if tp.topic in _bundle_topics:
            return None
        return super().__getitem__(tp)


def _short_fetch_wait() -> None:
    """Caps the fetch wait of Faust's aiokafka consumer (faust-streaming 0.15.3 hardcodes it)."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    if getattr(AIOKafkaConsumerThread, "_cityops_fetch_wait", False):
        return
    create = AIOKafkaConsumerThread._create_worker_consumer

    def create_worker_consumer(self, transport):
        consumer = create(self, transport)
        consumer._fetch_max_wait_ms = _fetch_wait["ms"]
        return consumer

    create_worker_consumer.__wrapped__ = create  # type: ignore[attr-defined]
    AIOKafkaConsumerThread._create_worker_consumer = create_worker_consumer  # type: ignore[method-assign]
    AIOKafkaConsumerThread._cityops_fetch_wait = True  # type: ignore[attr-defined]


def poll_cap(
    active_partitions, max_records: int | None, bundle_topics, cap: int = BUNDLE_POLL_RECORDS
) -> int | None:
    """The records one poll may return: at most `cap` while any active partition is a bundle
    topic's (bundles are up to BUNDLE_MAX_BYTES each); `max_records` otherwise (changelog
    recovery reads small records and wants large polls)."""
    if not active_partitions or not any(tp.topic in bundle_topics for tp in active_partitions):
        return max_records
    return cap if max_records is None else min(max_records, cap)


def _bounded_poll() -> None:
    """Caps the records a poll of Faust's consumer returns while it reads bundles (`poll_cap`)."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    if getattr(AIOKafkaConsumerThread, "_cityops_bounded_poll", False):
        return
    fetch_records = AIOKafkaConsumerThread._fetch_records

    async def bounded_fetch_records(
        self, consumer, active_partitions, timeout=None, max_records=None
    ):
        cap = poll_cap(active_partitions, max_records, _bundle_topics)
        return await fetch_records(
            self, consumer, active_partitions, timeout=timeout, max_records=cap
        )

    bounded_fetch_records.__wrapped__ = fetch_records  # type: ignore[attr-defined]
    AIOKafkaConsumerThread._fetch_records = bounded_fetch_records  # type: ignore[method-assign]
    AIOKafkaConsumerThread._cityops_bounded_poll = True  # type: ignore[attr-defined]


def _seek_to_committed_zero() -> None:
    """Makes a committed offset of 0 an explicit seek to 0 (aiokafka 0.14 skips it).

    `AIOKafkaConsumer.seek_to_committed()` seeks only `if offset and offset > 0`, so a partition
    whose committed offset is 0 (every bundle partition `seed_group_offsets` seeded, or one the
    group never got past) keeps whatever position the fetcher already reached. Faust relies on
    this seek to rewind past records it fetched but never delivered (e.g. while its flow is
    paused around the group join). The committed offsets are logged: where each partition
    resumes.
    """
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    if getattr(AIOKafkaConsumerThread, "_cityops_seek_zero", False):
        return

    async def seek_in_thread(self):
        consumer = self._ensure_consumer()
        committed = await consumer.seek_to_committed()
        for tp, offset in committed.items():
            if offset == 0:
                consumer.seek(tp, 0)
        resumed = sorted(
            (tp.partition, o) for tp, o in committed.items() if tp.topic in _bundle_topics
        )
        if resumed:
            log.info("bundle partitions resume at their committed offsets %s", resumed)
        return committed

    async def seek_to_committed(self):
        return await self.call_thread(seek_in_thread, self)

    seek_to_committed.__wrapped__ = AIOKafkaConsumerThread.seek_to_committed  # type: ignore[attr-defined]
    AIOKafkaConsumerThread.seek_to_committed = seek_to_committed  # type: ignore[method-assign]
    AIOKafkaConsumerThread._cityops_seek_zero = True  # type: ignore[attr-defined]


async def true_end_offsets(consumer, tps) -> dict:
    """The end offset (high watermark) of each partition in `tps`, via `consumer`'s client.

    Tansu 0.6 answers ListOffsets(latest) with the last record batch's base offset + 1, below the
    real end when that batch holds several records (docs/operations.md). A fetch of that last
    batch reports the true high watermark, so each partition whose ListOffsets answer is above 0
    is fetched once (10 ms wait, the records are ignored) and the larger of the two answers is kept.
    On Kafka both answers agree and this costs one fetch round trip per leader.
    """
    from aiokafka.protocol.fetch import FetchRequest
    from aiokafka.structs import TopicPartition

    ends = dict(await consumer.end_offsets(list(tps)))
    client = consumer._client
    by_node: dict[int, dict[str, list[tuple[int, int, int]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for tp, end in ends.items():
        node = client.cluster.leader_for_partition(TopicPartition(tp.topic, tp.partition))
        if end and node is not None and node >= 0:
            by_node[node][tp.topic].append((tp.partition, end - 1, 1))
    for node, topics in by_node.items():
        # A 10 ms wait: Tansu answers a fetch with no wait at all with no partitions.
        response = await client.send(node, FetchRequest(10, 1, 1, 0, list(topics.items())))
        for topic, partitions in response.topics:
            for partition, error_code, highwater, *_ in partitions:
                if error_code == 0 and highwater is not None:
                    for tp in ends:
                        if tp.topic == topic and tp.partition == partition:
                            ends[tp] = max(ends[tp], highwater)
    return ends


def _true_highwaters() -> None:
    """Faust's recovery takes the changelogs' ends from ListOffsets: on Tansu too low. A worker
    given back a partition whose local store had written past that answer stopped with
    ConsistencyError ("persisted offset … higher than the last offset in that topic"), and a
    recovery could stop before the last records of a changelog. The ends come from
    `true_end_offsets` instead."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    if getattr(AIOKafkaConsumerThread, "_cityops_highwaters", False):
        return
    upstream = AIOKafkaConsumerThread._highwaters

    async def _highwaters(self, partitions):
        if self.consumer.in_transaction:
            return await upstream(self, partitions)
        return await true_end_offsets(self._ensure_consumer(), partitions)

    _highwaters.__wrapped__ = upstream  # type: ignore[attr-defined]
    AIOKafkaConsumerThread._highwaters = _highwaters  # type: ignore[method-assign]
    AIOKafkaConsumerThread._cityops_highwaters = True  # type: ignore[attr-defined]


def _deliver_every_bundle() -> None:
    """Faust's consumers keep `ReadOffsets` (see there): a rebalance can no longer leave a
    partition's read offset past bundles that were fetched but never delivered."""
    from faust.transport.consumer import Consumer

    if getattr(Consumer, "_cityops_read_offsets", False):
        return
    init = Consumer.__init__

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._read_offset = ReadOffsets()

    __init__.__wrapped__ = init  # type: ignore[attr-defined]
    Consumer.__init__ = __init__  # type: ignore[method-assign]
    Consumer._cityops_read_offsets = True  # type: ignore[attr-defined]


def _commit_only_contiguous() -> None:
    """Faust commits a bundle partition only from acked offsets that start at its committed one
    (`commit_ready`); otherwise it waits for the missing bundles to be acked."""
    from faust.transport.consumer import Consumer

    if getattr(Consumer, "_cityops_contiguous", False):
        return
    new_offset = Consumer._new_offset

    def _new_offset(self, tp):
        if tp.topic in _bundle_topics and self._acked[tp]:
            gap_end = _gaps.get((tp.topic, tp.partition))
            if not commit_ready(self._acked[tp], self._committed_offset[tp], gap_end):
                waiting = self.__dict__.setdefault("_cityops_waiting", set())
                if tp not in waiting:  # once per episode, not at every commit interval
                    waiting.add(tp)
                    log.warning(
                        "partition %d: bundles acked from offset %d but %s is committed; "
                        "not committing until the ones before are acked",
                        tp.partition,
                        min(self._acked[tp]),
                        self._committed_offset[tp] or 0,
                    )
                return None
            self.__dict__.get("_cityops_waiting", set()).discard(tp)
        return new_offset(self, tp)

    _new_offset.__wrapped__ = new_offset  # type: ignore[attr-defined]
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    Consumer._cityops_contiguous = True  # type: ignore[attr-defined]
