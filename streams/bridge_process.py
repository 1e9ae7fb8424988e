"""The intake bridge in a process of its own, started and supervised by the worker: validation and
bundling run on one core while the Faust engine runs on the other (docs/performance.md).

The child exits when its parent dies (even by SIGKILL); the parent restarts a child that died and
stops it on shutdown. Both sides are at-least-once on their own (docs/architecture.md), so a kill of
either at any moment loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import time
import types
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from cityops.kafka_connection import KafkaConnection
from cityops.streams.tuning import start_heap_trimmer, tune_gc

if TYPE_CHECKING:
    from cityops.settings import Settings

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1
STOP_GRACE = 5.0  # seconds a cleanly exited bridge waits for its worker's own stop
# A live bridge that has not finished a step for this long is killed and restarted: beyond its
# own step bound (streams/intake.py STEP_TIMEOUT_SECONDS), for a loop blocked outright.
STALL_SECONDS = 120.0


def stalled(last_beat: float, now: float, limit: float = STALL_SECONDS) -> bool:
    """Has the bridge gone `limit` seconds without finishing a step?"""
    return now - last_beat > limit


@dataclass(frozen=True)
class BridgeConfig:
    """The settings the bridge uses, as a plain value: what the worker hands its bridge child.
    The child thereby never imports pydantic and the settings module (~25 MB of its RSS,
    docs/performance.md M-29)."""

    kafka: KafkaConnection
    topic_prefix: str
    partitions: int
    clock_speed: float
    clock_epoch: float | None
    tick_seconds: float
    bridge_linger_seconds: float
    fetch_wait_ms: int
    policy_file: Path | None
    rules_file: Path | None
    log_level: str

    @classmethod
    def of(cls, settings: Settings) -> BridgeConfig:
        """Each field from the settings attribute of the same name."""
        return cls(**{field.name: getattr(settings, field.name) for field in fields(cls)})


def bridge_for(settings: Settings | BridgeConfig, counters=None):
    """The Bridge of `settings` (in whatever process calls it), counting into `counters`
    (streams/metrics.py BridgeCounters) when given."""
    from cityops.schemas.registry import load_registry
    from cityops.schemas.topics import Topics
    from cityops.streams.clock import clock_from
    from cityops.streams.incidents.policy import load_policy
    from cityops.streams.intake import Bridge
    from cityops.streams.readings.rules import load_rules

    topics = Topics(settings.topic_prefix)
    bridge = Bridge(
        bootstrap=settings.kafka,
        source=topics.events,
        bundles=topics.bundles,
        readings=topics.readings,
        claims=topics.claims,
        group=f"{settings.topic_prefix}cityops-intake",
        partitions=settings.partitions,
        clock=clock_from(settings.clock_speed, settings.clock_epoch),
        registry=load_registry(),
        tick_seconds=settings.tick_seconds,
        linger=settings.bridge_linger_seconds,
        fetch_wait_ms=settings.fetch_wait_ms,
        policy=load_policy(settings.policy_file),
        groups=load_rules(settings.rules_file).groups,  # the worker checked the file at start
    )
    bridge.counters = counters
    return bridge


def run_bridge(settings: BridgeConfig, parent: int, counters=None) -> None:
    """The child's entry point: run the bridge until SIGTERM or until the parent is gone."""
    from cityops.logjson import configure_logging

    with contextlib.suppress(OSError, AttributeError):  # Linux: die with the parent
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    configure_logging("bridge", settings.log_level)
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    bridge = bridge_for(settings, counters)
    tune_gc()
    start_heap_trimmer()

    async def watch_parent() -> None:
        while not bridge.stopping.is_set():
            if os.getppid() != parent:
                log.warning("worker process gone; stopping")
                bridge.stopping.set()
            await asyncio.sleep(0.5)

    async def main() -> None:
        loop.add_signal_handler(signal.SIGTERM, bridge.stopping.set)
        loop.add_signal_handler(signal.SIGINT, bridge.stopping.set)
        watcher = asyncio.ensure_future(watch_parent())
        try:
            await bridge.run()
        finally:
            watcher.cancel()

    loop.run_until_complete(main())
    loop.close()


@contextlib.contextmanager
def _no_main_for_the_child():
    """While a child is spawned, a `__main__` with neither a spec nor a file: multiprocessing
    imports the parent's main module in every spawned child (`spawn.get_preparation_data`),
    and a worker's is the CLI, which imports the settings module, pydantic and every command's
    dependencies (~25 MB the bridge never uses). Its target, `run_bridge`, is found through
    its own module either way."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class BridgeProcess:
    """Parent side: starts the bridge child, restarts it when it dies, stops it on shutdown."""

    def __init__(self, settings: Settings, counters=None) -> None:
        self.settings = settings
        self._context = multiprocessing.get_context("spawn")
        self.counters = counters  # shared memory the child counts into (streams/metrics.py)
        self.process: multiprocessing.process.BaseProcess | None = None
        self.restarts = 0
        self._stopping = False

    def start(self) -> None:
        if self.counters is not None:
            self.counters.beat()  # a new child gets its whole bound from now
        process = self._context.Process(
            target=run_bridge,
            args=(BridgeConfig.of(self.settings), os.getpid(), self.counters),
            name="cityops-bridge",
            daemon=True,
        )
        with _no_main_for_the_child():
            process.start()
        self.process = process
        log.info("intake bridge started as process %s", process.pid)

    async def supervise(self) -> None:
        """Restarts the child when it exits on its own (backoff up to 5 s)."""
        delay = 0.5
        while not self._stopping:
            await asyncio.sleep(0.5)
            if self._stopping or self.process is None:
                continue
            if self.process.is_alive():
                self._kill_if_stalled()
                continue
            if self.process.exitcode == 0 and await self._stop_begins(STOP_GRACE):
                return
            log.warning(
                "intake bridge process exited with %s; restarting in %.1f s",
                self.process.exitcode,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            if not self._stopping:
                self.restarts += 1
                self.start()

    def _kill_if_stalled(self) -> None:
        counters, process = self.counters, self.process
        if counters is None or process is None or not stalled(counters.last_beat, time.time()):
            return
        log.error(
            "intake bridge process %s finished no step for %.0f s; killing it to restart it",
            process.pid,
            time.time() - counters.last_beat,
        )
        process.kill()
        process.join(5.0)

    async def _stop_begins(self, within: float) -> bool:
        """A clean exit answers SIGTERM/SIGINT, which stopping the process group (Ctrl+C,
        `cityops down`) sends to the worker too: give the worker's own stop time to begin
        before treating the exit as a crash."""
        deadline = time.monotonic() + within
        while not self._stopping and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return self._stopping

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        process = self.process
        if process is None or not process.is_alive():
            return
        process.terminate()
        deadline = time.monotonic() + timeout
        while process.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.is_alive():
            process.kill()
        process.join(1.0)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None
