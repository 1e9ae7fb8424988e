"""The stream worker: one Faust app with the incident engine (tables, agent), and the intake bridge
in a child process it supervises (or as a task of the app when `intake_process` is off).
`create_app(settings)` builds it; `run_worker(settings)` runs it until SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import logging

import faust

from deploy.settings import Settings
from streams.bridge_process import BridgeProcess, bridge_for
from streams.clock import clock_from
from streams.incidents.agent import Runtime, attach
from streams.incidents.policy import load_policy

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, loop: asyncio.AbstractEventLoop | None = None
) -> tuple[faust.App, Runtime, BridgeProcess | object]:
    prefix = settings.topic_prefix
    clock = clock_from(settings.clock_speed, settings.clock_epoch)
    # The bridge (maybe another process) must map event times onto the very same clock.
    settings = settings.model_copy(update={"clock_epoch": clock.epoch})
    policy = load_policy(settings.policy_file)
    app = faust.App(
        f"{prefix}cityops-engine",
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        loop=loop,
        datadir=str(settings.home / "faust"),
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        stream_buffer_maxsize=64,  # bundles, not events: each holds up to 2,000
        producer_max_request_size=8_000_000,
        consumer_max_fetch_size=16 * 1024 * 1024,
        broker_commit_interval=1.0,
        # Tansu completes a group join only after the session/rebalance timeout runs out for a new
        # group; short timeouts make a worker ready in seconds (heartbeats run in their own thread).
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.5,
        broker_rebalance_timeout=5.0,
    )
    runtime = attach(app, settings, policy, clock)
    bridge = BridgeProcess(settings) if settings.intake_process else bridge_for(settings)

    @app.task
    async def intake() -> None:
        await runtime.start()
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

    @app.on_before_shutdown.connect
    def _stop(app, **kwargs) -> None:
        if isinstance(bridge, BridgeProcess):
            bridge.stop()
        else:
            bridge.stopping.set()

    return app, runtime, bridge


def run_worker(settings: Settings) -> int:
    """Runs one worker until SIGTERM or SIGINT; SIGKILL loses nothing (at-least-once)."""
    from deploy.services import create_topics
    from deploy.stack import all_topics

    create_topics(settings.bootstrap, all_topics(settings), settings.partitions)
    loop = _event_loop()
    app, runtime, _ = create_app(settings, loop)
    worker = faust.Worker(
        app, loop=loop, loglevel=settings.log_level.upper(), override_logging=True
    )
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        return asyncio.new_event_loop()
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop
