"""The stack the fault matrix (bench/chaos.py) runs in and breaks: its own broker (memory or
durable), ClickHouse and workers on free ports under a temp home, and one function per fault.

Faults act as `cityops up`'s supervisor does after them: a killed worker is started again at once,
a killed broker comes back (memory: topics recreated and the workers restarted on emptied state),
a killed ClickHouse comes back on its data directory after the outage.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cityops.deploy import services as svc
from cityops.deploy.durable import DURABLE_CADENCE
from cityops.settings import Settings
from cityops.storage.client import ClickHouseTarget, connect, migrate
from cityops.topics_admin import all_topics, create_topics

if TYPE_CHECKING:
    from cityops.deploy.durable import ObjectStore


class NotRun(RuntimeError):
    """A fault kind this machine cannot inject; the message says why."""


MEMORY_CADENCE = {"tick_seconds": 0.5, "flush_seconds": 0.3}


@dataclass
class ChaosStack:
    home: Path
    durable: bool = False
    disk_mb: int = 0  # > 0: ClickHouse's data on a loop-mounted filesystem of this size
    partitions: int = 4
    tcp: int = field(default_factory=svc.free_port)
    http: int = field(default_factory=svc.free_port)
    port: int = field(default_factory=svc.free_port)
    broker: svc.Process | None = None
    clickhouse: svc.Process | None = None
    store: ObjectStore | None = None
    mounted: Path | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)
    settings: Settings | None = None
    restarts: int = 0
    revived: int = 0  # workers that exited by themselves and were started again

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def target(self) -> ClickHouseTarget:
        return ClickHouseTarget(port=self.tcp, database="default")

    # -- services ---------------------------------------------------------------------------
    def start(self) -> None:
        if self.disk_mb:
            self.mounted = mount_small_fs(self.home / "clickhouse" / "data", self.disk_mb)
        self.clickhouse = svc.start_clickhouse(self.home, self.tcp, self.http)
        if self.durable:
            from cityops.deploy import durable

            self.store = durable.start_object_store(self.home)
        self.broker = self._start_broker()

    def _start_broker(self) -> svc.Process:
        if self.durable:
            from cityops.deploy import durable

            assert self.store is not None
            return durable.start_durable_broker(self.home, self.port, self.store)
        return svc.start_broker(self.home, self.port)

    def stop(self) -> None:
        for worker in self.workers:
            _kill_group(worker)
        self.workers.clear()
        for proc in (self.broker, getattr(self.store, "proc", None), self.clickhouse):
            if proc is not None:
                svc.stop(proc)
        if self.durable:
            from cityops.deploy import durable

            durable.remove_sockets(self.home)
        if self.mounted is not None:
            subprocess.run(["umount", "-l", str(self.mounted)], check=False)

    # -- one phase: its own database, topics and worker ------------------------------------
    def phase(self, name: str) -> Settings:
        token = f"{name}_{uuid.uuid4().hex[:6]}"
        database = f"chaos_{token}"
        client = connect(self.target.with_database(database), database=False)
        migrate(client, database)
        client.disconnect()
        self.settings = Settings(
            home=self.home / token,
            kafka_bootstrap=self.bootstrap,
            clickhouse_url=self.target.with_database(database).url(),
            topic_prefix=f"c{token}.",
            partitions=self.partitions,
            database=database,
        ).model_copy(
            # The durable broker's cadence (fewer, larger batches: deploy/durable.py); the
            # in-memory broker's matrix keeps short ticks and flushes.
            update=DURABLE_CADENCE if self.durable else MEMORY_CADENCE
        )
        self.settings.home.mkdir(parents=True, exist_ok=True)
        create_topics(self.bootstrap, all_topics(self.settings), self.partitions)
        self.workers = [self._start_worker()]
        return self.settings

    def end_phase(self) -> None:
        for worker in self.workers:  # measured already: no need for a clean stop
            _kill_group(worker)
        self.workers.clear()

    def _start_worker(self, settings: Settings | None = None) -> subprocess.Popen:
        settings = settings or self.settings
        assert settings is not None
        self.restarts += 1
        return svc.start_worker(settings, settings.home / f"worker-{self.restarts}.log")

    def revive(self) -> int:
        """Starts again every worker that exited by itself (the engine ends its process with
        status 70 when it cannot go on safely, streams/halt.py), as `cityops up`'s supervisor
        does; how many were started."""
        started = 0
        for n, worker in enumerate(self.workers):
            if worker.poll() is not None:
                self.workers[n] = self._start_worker()
                self.revived += 1
                started += 1
        return started

    def worker_log(self) -> Path:
        assert self.settings is not None
        return self.settings.home / f"worker-{self.restarts}.log"

    # -- faults -----------------------------------------------------------------------------
    def kill_worker(self, params: dict) -> None:
        _kill_group(self.workers[0])
        time.sleep(params.get("restart_after", 0.5))  # the supervisor's first back-off
        self.workers[0] = self._start_worker()

    def kill_bridge(self, params: dict) -> None:
        bridges = bridge_pids(self.workers[0].pid)
        if not bridges:
            raise NotRun("the worker has no intake bridge process (yet)")
        for pid in bridges:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def kill_clickhouse(self, params: dict) -> None:
        assert self.clickhouse is not None
        _kill_group(self.clickhouse)
        time.sleep(params.get("down", 5.0))  # the outage itself is the fault
        self.clickhouse = svc.start_clickhouse(self.home, self.tcp, self.http)

    def rebalance(self, params: dict) -> None:
        second = self._start_worker()
        time.sleep(params.get("stay", 10.0))
        _stop_group(second)

    def kill_broker(self, params: dict) -> None:
        assert self.broker is not None and self.settings is not None
        _kill_group(self.broker)
        time.sleep(params.get("down", 1.0))
        if not self.durable:  # the workers' tables went with the topics (deploy/supervisor.py)
            for worker in self.workers:
                _kill_group(worker)
        self.broker = self._start_broker()
        if not self.durable:
            create_topics(self.bootstrap, all_topics(self.settings), self.partitions)
            fresh = self.settings.home / f"after-broker-{self.restarts}"
            fresh.mkdir(parents=True, exist_ok=True)
            self.settings = self.settings.model_copy(update={"home": fresh})
            self.workers = [self._start_worker()]

    def fill_disk(self, params: dict) -> None:
        """Fills ClickHouse's data filesystem until ENOSPC, holds it full, then frees it."""
        if self.mounted is None:
            raise NotRun("no small filesystem mounted for ClickHouse's data")
        filler = self.mounted / "filler.bin"
        block = b"\0" * (1 << 20)
        with open(filler, "wb") as out:
            with contextlib.suppress(OSError):
                while True:
                    out.write(block)
                    out.flush()
        time.sleep(params.get("hold", 10.0))
        filler.unlink(missing_ok=True)


def mount_small_fs(directory: Path, megabytes: int) -> Path:
    """A loop-mounted ext4 of `megabytes` on `directory` (root and `mount` needed)."""
    if os.geteuid() != 0 or not shutil.which("mount") or not shutil.which("mkfs.ext4"):
        raise NotRun("a loop mount needs root, mount and mkfs.ext4")
    directory.mkdir(parents=True, exist_ok=True)
    image = directory.parent / "data.img"
    steps = [
        ["truncate", "-s", f"{megabytes}M", str(image)],
        ["mkfs.ext4", "-q", "-F", str(image)],
        ["mount", "-o", "loop", str(image), str(directory)],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise NotRun(f"{' '.join(step[:2])} failed: {done.stderr.strip()[:200]}")
    return directory


def bridge_pids(worker_pid: int) -> list[int]:
    """The worker's intake bridge children (multiprocessing spawn children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().split(") ", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == worker_pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _kill_group(proc) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    popen = proc if isinstance(proc, subprocess.Popen) else getattr(proc, "popen", None)
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(10)


def _stop_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
