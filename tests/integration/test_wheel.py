"""The wheel alone: built from a copy of the sources, installed into a fresh virtual environment
outside the repository, run from a temporary directory. `cityops --help`, the registry (data files)
and `cityops up / status / down` work; `import cityops` does, the generic names do not.

The new environment gets the project's dependencies without reinstalling them: one .pth file in
its site-packages names the project environment's site-packages. That cannot let the repository's
editable install leak in: the editable install is itself a .pth file (and an import hook it
installs) in that directory, and Python processes .pth files only in site directories, never in a
directory that a .pth line added to sys.path. The new environment's own site-packages also comes
first on sys.path, and the test checks that `cityops` is imported from it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from cityops.deploy import services as svc

ROOT = Path(__file__).resolve().parents[2]
GENERIC = ("schemas", "streams", "storage", "dashboard", "deploy", "bench")
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", ".cityops", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
    "tests", "test-artifacts",
)  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(environment, its bin directory, a working directory outside the repository)."""
    base = tmp_path_factory.mktemp("wheel")
    # A copy, so the build leaves nothing (build/, *.egg-info) in the checkout and stale files
    # of an earlier build/ cannot end up in the wheel.
    source = base / "src"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
    dist = base / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-w", str(dist), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("cityops-*.whl")

    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = sysconfig.get_paths()["purelib"]  # the project environment's site-packages
    (Path(site) / "_cityops_test_deps.pth").write_text(deps + "\n")

    work = base / "cwd"
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CITYOPS_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["CITYOPS_HOME"] = str(base / "home")
    return env, env_dir / "bin", work


def run(installed, *argv, timeout=120):
    env, bin_dir, work = installed
    exe = str(bin_dir / argv[0]) if argv[0] in ("cityops", "python") else argv[0]
    return subprocess.run(
        [exe, *argv[1:]], cwd=work, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_the_namespace_comes_from_the_wheel(installed):
    _, bin_dir, _ = installed
    done = run(
        installed,
        "python",
        "-c",
        "import cityops, cityops.streams.incidents.logic, cityops.deploy.cli; "
        "print(cityops.__file__); print(cityops.streams.incidents.logic.__file__)",
    )
    assert done.returncode == 0, done.stderr
    env_dir = bin_dir.parent.resolve()
    for line in done.stdout.split():
        assert Path(line).resolve().is_relative_to(env_dir), line


@pytest.mark.parametrize("name", GENERIC)
def test_the_generic_names_are_not_importable(installed, name):
    done = run(installed, "python", "-c", f"import {name}")
    assert done.returncode == 1
    assert f"No module named '{name}'" in done.stderr


def test_help_and_registry_from_the_wheel(installed):
    helped = run(installed, "cityops", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "usage: cityops" in helped.stdout
    registry = run(installed, "cityops", "registry", "--json")
    assert registry.returncode == 0, registry.stderr
    assert json.loads(registry.stdout)  # read from the wheel's schemas/data


def test_package_data_is_in_the_wheel(installed):
    done = run(
        installed,
        "python",
        "-c",
        "import json, cityops.schemas.json_schema as j, cityops.streams.incidents.policy as p, "
        "cityops.dashboard.app as a; "
        "print(json.dumps([str(j.JSON_DIR), str(j.EXAMPLES_DIR), str(p.DEFAULT_FILE), "
        "str(a.ASSETS)]))",
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    json_dir, examples, policy, assets = map(Path, json.loads(done.stdout))
    assert any(json_dir.glob("*.json")) and any(examples.glob("*.json"))
    assert policy.is_file()
    assert (assets / "style.css").is_file()


def test_up_status_down_from_the_wheel(installed):
    env = {
        **installed[0],
        "CITYOPS_BROKER_PORT": str(svc.free_port()),
        "CITYOPS_CLICKHOUSE_PORT": str(svc.free_port()),
        "CITYOPS_CLICKHOUSE_HTTP_PORT": str(svc.free_port()),
        "CITYOPS_GATEWAY_PORT": str(svc.free_port()),
        "CITYOPS_DASHBOARD_PORT": str(svc.free_port()),
        "CITYOPS_PARTITIONS": "2",
    }
    stack = (env, installed[1], installed[2])
    try:
        started = run(stack, "cityops", "up", "--detach", "--no-dashboard", timeout=180)
        assert started.returncode == 0, started.stderr
        answered = run(stack, "cityops", "status", "--json")
        assert answered.returncode == 0, answered.stderr
        status = json.loads(answered.stdout)
        assert set(status["services"]) >= {"broker", "clickhouse", "worker-1", "gateway"}
        assert all(state == "up" for state in status["services"].values()), status
        state = json.loads((Path(env["CITYOPS_HOME"]) / "stack.json").read_text())
        pids = [p["pid"] for p in state["processes"]]
    finally:
        stopped = run(stack, "cityops", "down")
    assert stopped.returncode == 0, stopped.stderr
    assert [pid for pid in pids if svc.pid_alive(pid)] == []
    assert svc.port_free(int(env["CITYOPS_BROKER_PORT"]))
    assert svc.port_free(int(env["CITYOPS_CLICKHOUSE_PORT"]))
