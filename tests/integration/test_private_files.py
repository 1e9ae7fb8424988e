"""The stack's secrets from another local account's side: `cityops up` and `cityops kiosk rotate`
create secrets.json (kiosk token, session key) and stack.json (the wall's address with the token)
with mode 0600 from the first system call, never readable by others for a moment. strace watches
the real command; os.stat checks the result. And a wall opened with the old address stops after
the rotation while the address `cityops status --json` shows then works."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from cityops.deploy import services as svc
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
PRIVATE = ("secrets.json", "stack.json")
_OPEN = re.compile(r'\bopen(?:at)?\((?:AT_FDCWD, )?"([^"]+)", ([A-Z_|]+)(?:, (0\d+))?\)')
_CHMOD = re.compile(r'\b(?:chmod|fchmodat)\((?:AT_FDCWD, )?"([^"]+)"')


def _strace(trace: Path, *args: str, follow: bool = False) -> list[str]:
    # --seccomp-bpf: only the listed calls stop the traced processes, so following the stack's
    # services (-f) costs them little.
    opts = ["-f", "--seccomp-bpf"] if follow else []
    return [
        "strace",
        *opts,
        "-o",
        str(trace),
        "-e",
        "trace=open,openat,creat,chmod,fchmod,fchmodat",
        sys.executable,
        "-m",
        "cityops.deploy.cli",
        *args,
    ]


def traced(env: dict, trace: Path, *args: str) -> subprocess.CompletedProcess:
    """`cityops ARGS` under strace (this process only)."""
    return subprocess.run(
        _strace(trace, *args),
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def traced_up(env: dict, trace: Path) -> subprocess.Popen:
    """`cityops up --detach` under strace, its children followed: the detached supervisor writes
    the stack's files. strace lives as long as the stack (until `cityops down`), so it is started
    in the background and the caller waits for the stack, not for strace."""
    return subprocess.Popen(
        _strace(trace, "up", "--detach", follow=True),
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def creations(trace: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Modes of the creating opens of private files (by file name) and chmods of them."""
    created: dict[str, list[str]] = {}
    chmods = []
    for line in trace.read_text().splitlines():
        if (m := _OPEN.search(line)) and "O_CREAT" in m.group(2):
            name = next((p for p in PRIVATE if p in Path(m.group(1)).name), None)
            if name:
                created.setdefault(name, []).append(m.group(3))
        if (m := _CHMOD.search(line)) and any(p in m.group(1) for p in PRIVATE):
            chmods.append(line)
    return created, chmods


@pytest.fixture
def stack_env(isolated):
    env = {
        **isolated.env,
        "CITYOPS_GATEWAY_PORT": str(svc.free_port()),
        "CITYOPS_DASHBOARD_PORT": str(svc.free_port()),
    }
    yield env
    subprocess.run(
        [sys.executable, "-m", "cityops.deploy.cli", "down"],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )


@pytest.mark.skipif(
    shutil.which("strace") is None and not os.environ.get("CI"), reason="needs strace"
)
def test_stack_secrets_are_private_from_their_first_byte(isolated, stack_env, tmp_path):
    home = isolated.settings.home
    tracer = traced_up(stack_env, tmp_path / "up.trace")
    try:
        wait_until(
            lambda: wall_answers(status(stack_env).get("wall")),
            180,
            "the detached stack's wall to answer",
            interval=0.5,
            ignoring=(ValueError, requests.RequestException),
        )
        created, chmods = creations(tmp_path / "up.trace")
        _check_created(created, chmods, home)
        _rotation_ends_the_old_wall(stack_env, tmp_path, home)
    finally:
        subprocess.run(
            [sys.executable, "-m", "cityops.deploy.cli", "down"],
            env={**stack_env, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            capture_output=True,
            timeout=120,
        )
        try:
            tracer.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(tracer.pid, 9)
            tracer.wait(10)


def _check_created(created: dict, chmods: list, home: Path) -> None:
    assert set(created) == set(PRIVATE), created
    assert all(mode == "0600" for modes in created.values() for mode in modes), created
    assert chmods == []
    for name in PRIVATE:
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name


def _rotation_ends_the_old_wall(stack_env: dict, tmp_path: Path, home: Path) -> None:
    old_wall = status(stack_env)["wall"]
    wall = requests.Session()
    assert wall.get(old_wall, timeout=10).status_code == 200
    layout = old_wall.split("?", 1)[0] + "_dash-layout"
    assert wall.get(layout, timeout=10).status_code == 200

    rotate = traced(stack_env, tmp_path / "rotate.trace", "kiosk", "rotate")
    assert rotate.returncode == 0, rotate.stderr
    created, chmods = creations(tmp_path / "rotate.trace")
    assert set(created) == set(PRIVATE), created
    assert all(mode == "0600" for modes in created.values() for mode in modes), created
    assert chmods == []
    for name in PRIVATE:
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    new_wall = status(stack_env)["wall"]
    assert new_wall != old_wall and new_wall in rotate.stdout
    assert wall.get(layout, timeout=10).status_code == 401  # the old wall is signed out
    fresh = requests.Session()
    assert fresh.get(new_wall, timeout=10).status_code == 200
    assert fresh.get(layout, timeout=10).status_code == 200


def wall_answers(url: str | None) -> bool:
    return bool(url) and requests.get(url, timeout=5).status_code == 200


def status(env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "cityops.deploy.cli", "status", "--json"],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(done.stdout)
