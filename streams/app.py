"""The stream worker: one Faust app with the incident engine (tables, agent), and the intake bridge
in a child process it supervises (or as a task of the app when `intake_process` is off).
`create_app(settings)` builds it; `run_worker(settings)` runs it until SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import faust

from cityops.schemas.topics import Topics
from cityops.settings import Settings
from cityops.streams import faust_patches
from cityops.streams.bridge_process import BridgeProcess, bridge_for
from cityops.streams.claims.service import ClaimsService
from cityops.streams.clock import clock_from
from cityops.streams.incidents.agent import Runtime, attach, release_held
from cityops.streams.incidents.policy import load_policy
from cityops.streams.incidents.store import STORE_URL, claim_state_dir
from cityops.streams.intake import BUNDLE_MAX_BYTES
from cityops.streams.metrics import BridgeCounters
from cityops.streams.readings.agent import attach_readings
from cityops.streams.readings.rules import RulesError, load_rules
from cityops.streams.tuning import libc, start_heap_trimmer

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, loop: asyncio.AbstractEventLoop | None = None
) -> tuple[faust.App, Runtime, BridgeProcess | object]:
    prefix = settings.topic_prefix
    faust_patches.apply(Topics(prefix).bundles, settings.fetch_wait_ms)
    # the same in-order delivery and commits
    faust_patches.apply(Topics(prefix).readings, settings.fetch_wait_ms)
    rules = load_rules(settings.rules_file)  # a bad file stops the start, naming the mistake
    clock = clock_from(settings.clock_speed, settings.clock_epoch)
    # The bridge (maybe another process) must map event times onto the very same clock.
    settings = settings.model_copy(update={"clock_epoch": clock.epoch})
    policy = load_policy(settings.policy_file)
    app = faust.App(
        f"{prefix}cityops-engine",
        **settings.kafka.faust(),  # broker and broker_credentials (SASL, TLS)
        # Table values on disk (RocksDB, bounded memory: streams/incidents/store.py), in a
        # local directory of this worker's own, emptied at start.
        store=STORE_URL,
        loop=loop,
        datadir=str(claim_state_dir(settings.home / "faust")),
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        # Bundles, not events: each holds up to 2,000 (16 bundles are seconds of work; each
        # buffered bundle is a megabyte or two of the worker's memory).
        stream_buffer_maxsize=16,
        producer_max_request_size=8_000_000,
        # Per partition and fetch, compressed: a dozen bundles at LZ4's ~8:1, and at least one
        # whole bundle (streams/intake.py caps their size). Fetched data waits in memory until
        # the agent takes it, so more buys nothing but RSS (docs/performance.md M-29).
        consumer_max_fetch_size=max(2**20, BUNDLE_MAX_BYTES),
        broker_commit_interval=1.0,
        # Tansu completes a group join only after the session/rebalance timeout runs out for a new
        # group; short timeouts make a worker ready in seconds (heartbeats run in their own thread).
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.5,
        broker_rebalance_timeout=5.0,
    )
    runtime = attach(app, settings, policy, clock)
    readings = attach_readings(app, settings, rules, clock)
    log.info(
        "early warning: %d rules, %d feeds (%s)",
        len(rules.rules),
        len(rules.feeds),
        settings.rules_file or "deploy/config/rules.toml",
    )
    claims = ClaimsService(settings)  # resident-unit claims (docs/claims.md)

    @app.task
    async def claims_loop() -> None:
        try:
            await claims.run()
        except asyncio.CancelledError:
            raise
        except BaseException:
            log.exception("claims consumer stopped; stopping the worker")
            await app.crash(RuntimeError("claims consumer stopped"))
            raise

    # the bridge's counts and lag, read by the worker's /metrics
    counters = BridgeCounters(settings.partitions)
    if settings.intake_process:
        bridge = BridgeProcess(settings, counters)
    else:
        bridge = bridge_for(settings, counters)

    @app.task
    async def intake() -> None:
        await runtime.start()
        await readings.start()
        try:
            if isinstance(bridge, BridgeProcess):
                bridge.start()
                await bridge.supervise()
            else:
                await bridge.run()
        except asyncio.CancelledError:
            raise
        except BaseException:
            log.exception("intake bridge stopped; stopping the worker")
            await app.crash(RuntimeError("intake bridge stopped"))
            raise

    def stop_bridge() -> None:
        claims.stopping.set()
        if isinstance(bridge, BridgeProcess):
            bridge.stop()
        else:
            bridge.stopping.set()

    wait_empty = app._consumer_wait_empty

    async def stop_in_order(consumer, logger) -> None:
        """Before Faust waits for the acks of delivered bundles — on a stop, and on every
        rebalance: store and ack what the engine applied and stop waiting for the bundles it holds
        (never applied, so never acked here); on a stop, first stop the bridge."""
        if app.should_stop:
            await asyncio.get_running_loop().run_in_executor(None, stop_bridge)
            await readings.settle()
            await runtime.finish(consumer)
        else:
            await readings.settle()
            await runtime.settle()
            release_held(readings.order, consumer)
            release_held(runtime.order, consumer)
        await wait_empty(consumer, logger)

    # Replaces Faust's shutdown wait on purpose (pinned versions, docs/faust-corrections.md).
    app._consumer_wait_empty = stop_in_order  # type: ignore[method-assign]

    # Faust's hint wants a `signal` keyword parameter; the handler takes it through **kwargs.
    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    def _stop(app, **kwargs) -> None:
        stop_bridge()  # a worker stopped before it had any assignment

    return app, runtime, bridge


def run_worker(settings: Settings) -> int:
    """Runs one worker until SIGTERM or SIGINT; SIGKILL loses nothing (at-least-once)."""
    from cityops.logjson import configure_logging
    from cityops.topics_admin import all_topics, create_topics

    configure_logging("worker", settings.log_level)
    try:
        load_rules(settings.rules_file)  # before anything starts: a bad file is one clear line
    except RulesError as exc:
        log.error("cannot start: %s", exc)
        print(f"cityops worker: {exc}", file=sys.stderr)
        return 2
    faust_patches.check_versions(settings.allow_unverified_faust)  # before any patch or broker
    _bound_malloc()
    start_heap_trimmer()
    _retry_while_broker_away(
        lambda: create_topics(settings.kafka, all_topics(settings), settings.partitions)
    )
    seed_group_offsets(settings)
    loop = _event_loop()
    app, runtime, bridge = create_app(settings, loop)
    probes = None
    if settings.worker_http_port:
        from cityops.streams.probe_server import worker_probes

        probes = worker_probes(settings, runtime, bridge)
        probes.start()
    # Logging stays as configured above (JSON lines, cityops/logjson.py).
    worker = faust.Worker(
        app, loop=loop, loglevel=settings.log_level.upper(), override_logging=False
    )
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        if probes is not None:
            probes.stop()
    return 0


BROKER_ATTEMPTS = 12  # 1 + 2 + 4 + 8 + 8 … s: about a minute and a half, then exit (and restart)


def _retry_while_broker_away(action, attempts: int = BROKER_ATTEMPTS) -> None:
    """Run `action` (the first broker call of a start), waiting for an absent broker with
    bounded retries and back-off, one log line per attempt; the last failure is raised."""
    import time

    for attempt in range(1, attempts + 1):
        try:
            action()
            return
        except Exception as exc:  # noqa: BLE001 - kafka-python raises several kinds
            if attempt == attempts:
                raise
            delay = min(8.0, 2.0 ** (attempt - 1))
            log.warning(
                "broker not reachable (%s); attempt %d of %d, retrying in %.0f s",
                exc, attempt, attempts, delay,
            )  # fmt: skip
            time.sleep(delay)


def seed_group_offsets(settings: Settings) -> None:
    """Give every bundle partition that the engine's group never committed an explicit offset 0.

    Without a committed offset a consumer falls back to its reset policy; against Tansu a worker
    killed during its first commit was seen to resume a partition it had never read at the end
    instead of the beginning, skipping bundles. Replaying from 0 is harmless: effects are
    idempotent by event id. Runs before the group is joined, so the commit is a plain one.
    streams/faust_patches.py makes Faust actually rewind to such an offset 0.
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    topics = Topics(settings.topic_prefix)
    consumer = KafkaConsumer(
        **settings.kafka.kafka_python(),
        group_id=f"{settings.topic_prefix}cityops-engine",
        enable_auto_commit=False,
    )
    try:
        missing = {}
        for topic in (topics.bundles, topics.readings):
            for number in sorted(consumer.partitions_for_topic(topic) or set()):
                tp = TopicPartition(topic, number)
                if consumer.committed(tp) is None:
                    missing[tp] = OffsetAndMetadata(0, "", -1)
        if missing:
            consumer.assign(list(missing))
            consumer.commit(missing)
            log.info("seeded offset 0 for %d bundle partitions", len(missing))
    except Exception as exc:  # noqa: BLE001 - the reset policy still applies; say so
        log.warning("could not seed the engine group's offsets: %s", exc)
    finally:
        consumer.close()


def _bound_malloc() -> None:
    """glibc malloc settings for the worker process (set before its threads start) and, through
    the environment glibc reads at start, for its bridge child.

    Bundles and fetched batches are megabyte buffers: once one is freed glibc raises its mmap
    threshold and later ones come from the heap, which then stays large. A fixed threshold
    keeps big buffers in mappings of their own, returned on free; two arenas stop RocksDB's and
    Faust's threads from each growing one (measured at 200,000 open incidents: engine peak RSS
    362 → 306 MB).
    """
    threshold, arenas = 256 * 1024, 2
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(threshold))
    os.environ.setdefault("MALLOC_ARENA_MAX", str(arenas))
    mallopt = getattr(libc(), "mallopt", None)
    if mallopt is None:  # not glibc: nothing to tune
        return
    m_mmap_threshold, m_arena_max = -3, -8
    mallopt(m_mmap_threshold, threshold)
    mallopt(m_arena_max, arenas)


def _event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        return asyncio.new_event_loop()
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop
