#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu machine: installs what cityops needs, then
#   deploy/run.sh up   [cityops up options]   -> the whole stack with simulated traffic and the wall display
#   deploy/run.sh test [pytest options]       -> ruff check, ruff format --check, mypy, then the tests
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-}"
case "$mode" in
  up|test) shift ;;
  *) echo "usage: deploy/run.sh up|test [options]" >&2; exit 2 ;;
esac

apt_packages=(clickhouse-server clickhouse-client zookeeper chromium fonts-wqy-microhei strace python3-venv python3-pip)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# A ClickHouse or Python found on PATH is good enough (e.g. pyenv Python, a self-installed server).
if command -v clickhouse-server >/dev/null 2>&1 || command -v clickhouse >/dev/null 2>&1; then
  missing=("${missing[@]/clickhouse-server}"); missing=("${missing[@]/clickhouse-client}")
fi
if python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing=("${missing[@]/python3-venv}"); missing=("${missing[@]/python3-pip}")
fi
read -r -a missing <<< "${missing[*]}"
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The project's virtual environment, refreshed when pyproject.toml changes.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=".venv/.cityops-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing Python packages into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[test]'
  echo "$want" > "$stamp"
fi

if [ "$mode" = up ]; then
  exec .venv/bin/cityops up --simulate "${CITYOPS_SIMULATE_RATE:-200}" "$@"
fi

# mypy cannot follow the editable install's import hook, so it reads the installed names
# (cityops.schemas, cityops.streams, …) from a tree of links built from the package-dir mapping
# (mypy_path in pyproject.toml).
.venv/bin/python - <<'PY'
import pathlib, shutil, tomllib

root = pathlib.Path.cwd()
tree = root / ".venv" / "mypy-tree"
shutil.rmtree(tree, ignore_errors=True)
mapping = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
for package, folder in sorted(mapping.items()):  # "cityops" before "cityops.…"
    dest = tree.joinpath(*package.split("."))
    if "." not in package:  # the top package: its own modules, the mapped folders beside them
        dest.mkdir(parents=True)
        for module in (root / folder).glob("*.py"):
            (dest / module.name).symlink_to(module)
    else:
        dest.symlink_to(root / folder, target_is_directory=True)
PY

# The checks CI runs before the tests; the first that fails stops the run and says which.
check() {
  local name="$1"; shift
  if ! "$@"; then
    echo "deploy/run.sh test: check failed: $name" >&2
    exit 1
  fi
}
check "ruff check" .venv/bin/ruff check .
check "ruff format --check" .venv/bin/ruff format --check .
check "mypy" .venv/bin/mypy
check "pytest" .venv/bin/python -m pytest -q "$@"
