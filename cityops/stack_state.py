"""The local stack's state file (`$CITYOPS_HOME/stack.json`, written by the launcher's supervisor)
read against the real processes: what `cityops status` and the wall's parts banner report
(CONTRACT §10). Configuration level, so the dashboard reads it without importing the launcher.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

UP, DOWN, RESTARTING = "up", "down", "restarting"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def service_state(recorded: str | None, pid_alive: bool, supervisor_alive: bool) -> str:
    """What `cityops status` reports for one service from the supervisor's record and the real
    process: a dead pid is never "up"; "restarting" only while a supervisor lives to restart."""
    if not supervisor_alive:
        return UP if pid_alive else DOWN
    if recorded == DOWN:
        return DOWN
    if recorded == RESTARTING or not pid_alive:
        return RESTARTING
    return UP


def read_state(home: Path) -> dict | None:
    path = Path(home) / "stack.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def service_states(state: dict) -> tuple[dict[str, str], dict[str, int]]:
    """({service: up|down|restarting}, {service: restarts}) of a state file's processes."""
    supervisor = state.get("supervisor")
    watched = isinstance(supervisor, int) and pid_alive(supervisor)
    procs = state.get("processes", [])
    states = {p["name"]: service_state(p.get("state"), pid_alive(p["pid"]), watched) for p in procs}
    return states, {p["name"]: p.get("restarts", 0) for p in procs}
