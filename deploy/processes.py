"""Child processes of the local stack: start one in its own session (so a stop reaches all it
spawned) with its log under `$CITYOPS_HOME`, wait on a condition (never a fixed sleep), stop it.
The services themselves (broker, ClickHouse, workers) are started by deploy/services.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cityops.stack_state import pid_alive


class StackError(RuntimeError):
    """A service could not be started or stopped; the message says why and what to do."""


@dataclass
class Process:
    name: str
    popen: subprocess.Popen | None
    pid: int
    log: Path
    pipe: subprocess.Popen | None = None  # the log pipe writing `log`, when rotated

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_alive(self.pid)

    def log_written(self, timeout: float = 2.0) -> None:
        """After the process has exited: wait (at most `timeout`) for its log pipe to write the
        last lines it was sent, so that a tail of the log shows how the process ended."""
        if self.pipe is None or self.alive():
            return
        try:
            self.pipe.wait(timeout)
        except subprocess.TimeoutExpired:
            pass  # a child of the service still holds the pipe open; show what is there


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_free(port: int, what: str) -> None:
    if not port_free(port):
        raise StackError(
            f"port {port} for the {what} is already in use on 127.0.0.1; stop what uses it "
            f"(`cityops down` if it is an earlier stack) or choose another port with CITYOPS_*_PORT"
        )


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


def spawn(
    name: str,
    argv: list[str],
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    rotate: tuple[int, int] | None = None,
) -> Process:
    """Starts `argv` with stdout and stderr to `log`; with `rotate` (max bytes, backups) through
    a log pipe that rotates the file by size (deploy/logpipe.py)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    if rotate is None:
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        return Process(name, popen, popen.pid, log)

    pipe = subprocess.Popen(
        [sys.executable, "-m", "cityops.deploy.logpipe", str(log), "--max-bytes", str(rotate[0])]
        + ["--backups", str(rotate[1])],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[1],
        start_new_session=True,  # outlives a stop of the service's group; ends at EOF
    )
    try:
        popen = subprocess.Popen(
            argv,
            stdout=pipe.stdin,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        if pipe.stdin is not None:
            pipe.stdin.close()  # the service holds the only write end now
    return Process(name, popen, popen.pid, log, pipe)


def stop(proc: Process, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after `timeout`."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        except PermissionError:
            os.kill(proc.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc.popen is not None:
                proc.popen.poll()
            if not proc.alive() and not group_alive(proc.pid):
                return
            time.sleep(0.05)
    if proc.popen is not None:
        proc.popen.poll()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    # Only zombies left? Then the group is gone for our purposes.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().split(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def wait_until(check, timeout: float, proc: Process, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            proc.log_written()
            raise StackError(
                f"the {what} exited during start-up; last lines of {proc.log}:\n"
                + log_tail(proc.log)
            )
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - any failure means "not ready yet"
            pass
        time.sleep(0.1)
    stop(proc)
    raise StackError(
        f"the {what} did not answer within {timeout:.0f} s; last lines of {proc.log}:\n"
        + log_tail(proc.log)
    )


def tcp_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
