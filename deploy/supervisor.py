"""The loop that keeps a `cityops up` stack running (CONTRACT §10); the decisions are in
deploy/supervision.py.

A unit (a service; in secure mode the broker with its TLS front) whose process exits is stopped
completely (its whole process group, so no orphan such as a worker's bridge lingers), then started
again after the policy's back-off, or given up with one message naming its log. The state file is
written at every change of state.

The embedded broker keeps its topics in memory: after it restarts, the supervisor recreates the
topics and restarts every worker. A restarted worker claims a fresh, emptied state directory
(streams/incidents/store.py), so its tables are rebuilt from the (now empty) changelogs and the
ClickHouse snapshots instead of a local store ahead of the new changelogs (Faust's
ConsistencyError). Restarting workers from here rather than detecting the loss inside a running
worker keeps one recovery path: the one every start already takes and the tests already cover.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from cityops.deploy import services
from cityops.deploy.services import StackError
from cityops.deploy.supervision import DOWN, RESTARTING, UP, RestartPolicy, decide


def _say(line: str) -> None:
    print(f"cityops: {time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


class Supervisor:
    def __init__(
        self,
        stack,
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.stack = stack
        self.policy = policy or RestartPolicy()
        self.clock = clock
        self.say = say or _say
        self.exits: dict[str, list[float]] = {}
        self.due: dict[str, float] = {}  # unit -> when to start it again
        self.given_up: set[str] = set()
        self.held: set[str] = set()  # workers stopped until the broker is back

    # -- one pass ---------------------------------------------------------------------------
    def units(self) -> dict[str, list]:
        out: dict[str, list] = {}
        for proc in self.stack.processes:
            out.setdefault(self.stack.unit_of.get(proc.name, proc.name), []).append(proc)
        return out

    def step(self) -> None:
        now = self.clock()
        for unit, procs in self.units().items():
            if unit in self.given_up or unit in self.due or unit in self.held:
                continue
            if all(p.alive() for p in procs):
                continue
            dead = next(p for p in procs if not p.alive())
            code = dead.popen.returncode if dead.popen is not None else None
            self._stop(procs)
            if unit == "broker":
                self._hold_workers()
            self._exited(unit, procs, now, f"{dead.name} exited (status {code})")
        for unit, when in sorted(self.due.items(), key=lambda item: item[1]):
            if when <= self.clock():
                self._restart(unit)

    def _exited(self, unit: str, procs: list, now: float, why: str) -> None:
        self.exits.setdefault(unit, []).append(now)
        decision = decide(self.exits[unit], now, self.policy)
        if decision.action == "give_up" or unit not in self.stack.starters:
            self.given_up.add(unit)
            logs = ", ".join(str(p.log) for p in procs)
            why = (
                f"keeps exiting ({len(self.exits[unit])} exits in {self.policy.window:.0f} s)"
                if unit in self.stack.starters
                else "exited and cannot be restarted by cityops"
            )
            message = f"{unit} {why}; given up, left down — see its log: {logs}"
            self.stack.messages.append(message)
            self._set(procs, DOWN)
            procs[0].log_written()
            self.say(message + "\n" + services.log_tail(procs[0].log, 5))
            return
        self.due[unit] = now + decision.delay
        self._set(procs, RESTARTING)
        self.say(f"{why}; restarting {unit} in {decision.delay:.0f} s (log: {procs[0].log})")

    def _restart(self, unit: str) -> None:
        self.due.pop(unit, None)
        try:
            started = self.stack.starters[unit]()
        except StackError as exc:
            procs = self.units().get(unit, [])
            self._stop(procs)
            self._exited(unit, procs, self.clock(), f"{unit} did not start: {exc}")
            return
        for proc in started:
            self.stack._track(proc, unit)
            self.stack.restarts[proc.name] = self.stack.restarts.get(proc.name, 0) + 1
        self._set(started, UP)
        self.say(f"{unit} is up again (pid {', '.join(str(p.pid) for p in started)})")
        if unit == "broker":
            self._after_broker_restart()

    def _hold_workers(self) -> None:
        """The broker is gone with its topics: stop the workers now (their tables are lost with
        the changelogs) so that nothing they still buffer reaches the new broker's changelogs;
        they start again once the broker is back (a worker that wrote into the new, empty
        changelogs before its restart made the next start wait in changelog recovery forever)."""
        units = self.units()
        for name in self.stack.worker_names:
            if name in self.given_up or name not in units:
                continue
            self._stop(units[name], timeout=2.0)
            self.due.pop(name, None)
            self.held.add(name)
            self._set(units[name], RESTARTING)
        if self.held:
            self.say(f"stopped {', '.join(sorted(self.held))} until the broker is back")

    def _after_broker_restart(self) -> None:
        """The broker lost its topics, group offsets and changelogs: recreate the topics, then
        start every worker again on an emptied local store (exits so far caused by the lost
        broker do not count towards a crash loop)."""
        from cityops.topics_admin import all_topics, create_topics

        s = self.stack.settings
        try:
            made = create_topics(s.kafka, all_topics(s), s.partitions)
            self.say(f"broker restarted: recreated {len(made)} topics")
        except Exception as exc:  # noqa: BLE001 - the workers create them too at their start
            self.say(f"broker restarted; could not create the topics yet ({exc})")
        units = self.units()
        for name in self.stack.worker_names:
            if name in self.given_up or name not in units:
                continue
            self._stop(units[name], timeout=3.0)  # held already, unless only the front died
            self.held.discard(name)
            self.exits.pop(name, None)
            self.due[name] = self.clock()
            self._set(units[name], RESTARTING)
            self.say(f"restarting {name} to rebuild its tables after the broker restart")

    # -- helpers ----------------------------------------------------------------------------
    def _stop(self, procs: list, timeout: float = 5.0) -> None:
        for proc in procs:
            services.stop(proc, timeout=timeout)

    def _set(self, procs: list, state: str) -> None:
        for proc in procs:
            self.stack.states[proc.name] = state
        self.stack.write_state()

    # -- the loop ---------------------------------------------------------------------------
    def run(self, stopping: Callable[[], bool], interval: float = 0.5) -> None:
        while not stopping():
            self.step()
            time.sleep(interval)


def launch_detached(home: Path, argv: list[str], timeout: float = 300) -> int:
    """`cityops up --detach`: the same `up` in the foreground in a background session of its own,
    which then supervises the stack; returns once the stack is ready (0) or the start failed (1,
    with the start's message)."""
    from cityops.deploy.stack import read_state

    home.mkdir(parents=True, exist_ok=True)
    log = home / "logs" / "supervisor.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    start = log.stat().st_size if log.exists() else 0
    proc = services.spawn("supervisor", [sys.executable, "-m", "cityops.deploy.cli", *argv], log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(home)
        if state and state.get("ready") and state.get("supervisor") == proc.pid:
            return 0
        if not proc.alive():
            with open(log, "rb") as fh:
                fh.seek(start)
                lines = fh.read().decode(errors="replace").splitlines()
            errors = [line for line in lines if line.startswith("cityops")]
            print("\n".join(errors[-3:] or lines[-15:]), file=sys.stderr)
            return (proc.popen.returncode if proc.popen else None) or 1
        time.sleep(0.1)
    services.stop(proc, timeout=60)
    print(f"cityops: the stack did not start within {timeout:.0f} s; see {log}", file=sys.stderr)
    return 1
