"""Dependencies point one way: the contract (schemas) ← configuration and the publishing SDK (the
cityops/ modules; the SDK needs only the contract and the Kafka settings, so streams and the
dashboard both publish through it) ← storage ← streams and dashboard (which never import each
other) ← deploy (the launcher) ← bench.

An AST walk over every module of each folder, lazy imports inside functions included: a module
that imports from a layer above its own fails, naming the file, the line and the import. Imports
of the generic top-level names (`import streams`, `from deploy.cli import …`) fail everywhere:
installed, the folders exist only as `cityops.<folder>`. The package list in pyproject.toml must
name every package folder, or the wheel silently misses it.
"""

# rename.py: skip  (this file names the generic top-level names on purpose)
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# folder -> (installed package, layer, group); same layer, different group: must not import
# each other.
FOLDERS = {
    "schemas": ("cityops.schemas", 0, "schemas"),
    "cityops": ("cityops", 1, "config"),
    "storage": ("cityops.storage", 2, "storage"),
    "streams": ("cityops.streams", 3, "streams"),
    "dashboard": ("cityops.dashboard", 3, "dashboard"),
    "deploy": ("cityops.deploy", 4, "deploy"),
    "bench": ("cityops.bench", 5, "bench"),
}
PACKAGES = {package: (layer, group) for package, layer, group in FOLDERS.values()}
GENERIC = {folder for folder in FOLDERS if folder != "cityops"}
# The one way up, by design: `cityops bench` in the launcher's CLI dispatches to the benchmarks
# (which themselves start services through the launcher).
ALLOWED = {("deploy/cli.py", "cityops.bench.run")}


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    folder, *rest = rel.parts
    package = FOLDERS[folder][0] if folder in FOLDERS else folder
    parts = [package, *rest]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file; `from pkg import name` yields
    `pkg.name` so `from cityops import settings` counts as cityops.settings."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path, root).split(".")
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return found


def layer_of(module: str) -> tuple[int, str] | None:
    """The layer and group of an imported cityops module (None: not ours)."""
    parts = module.split(".")
    if parts[0] != "cityops":
        return None
    if len(parts) > 1 and f"cityops.{parts[1]}" in PACKAGES:
        return PACKAGES[f"cityops.{parts[1]}"]
    return PACKAGES["cityops"]


def violation(importer: str, module: str) -> str | None:
    """Why importing `module` from the folder `importer` breaks the layering, or None."""
    if module.split(".")[0] in GENERIC:
        return "generic top-level name; import it as cityops." + module
    target = layer_of(module)
    if target is None:
        return None
    _, own_layer, own_group = FOLDERS[importer]
    layer, group = target
    if layer > own_layer:
        return f"{own_group} (layer {own_layer}) imports {group} (layer {layer})"
    if layer == own_layer and group != own_group:
        return f"{own_group} and {group} are side by side and must not import each other"
    return None


def python_files(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


# -- the rule itself, on examples --------------------------------------------------------------


@pytest.mark.parametrize(
    "importer, module, broken",
    [
        ("streams", "cityops.settings.Settings", False),
        ("streams", "cityops.storage.client.connect", False),
        ("streams", "cityops.schemas.topics.Topics", False),
        ("streams", "cityops.deploy.services.spawn", True),
        ("streams", "cityops.dashboard.ids", True),
        ("dashboard", "cityops.streams.publish.sdk", True),
        ("dashboard", "cityops.sdk.Publisher", False),
        ("streams", "cityops.sdk.Publisher", False),
        ("cityops", "cityops.schemas.events.parse_event", False),
        ("dashboard", "cityops.settings.Settings", False),
        ("storage", "cityops.clickhouse_target.ClickHouseTarget", False),
        ("cityops", "cityops.storage.client.ClickHouseTarget", True),
        ("cityops", "cityops.schemas.topics.Topics", False),
        ("schemas", "cityops.settings.Settings", True),
        ("deploy", "cityops.streams.app.run_worker", False),
        ("deploy", "cityops.bench.run.run_bench", True),
        ("bench", "cityops.deploy.services.spawn", False),
        ("deploy", "streams.app", True),
        ("bench", "deploy", True),
        ("streams", "faust.App", False),
    ],
)
def test_the_rule(importer, module, broken):
    assert (violation(importer, module) is not None) == broken


def test_relative_imports_resolve_to_their_package(tmp_path):
    (tmp_path / "streams" / "publish").mkdir(parents=True)
    path = tmp_path / "streams" / "publish" / "x.py"
    path.write_text("from .. import app\nfrom ...deploy import cli\nfrom . import sdk\n")
    assert imports_of(path, tmp_path) == [
        (1, "cityops.streams.app"),
        (2, "cityops.deploy.cli"),
        (3, "cityops.streams.publish.sdk"),
    ]


# -- the repository --------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", list(FOLDERS))
def test_no_layer_imports_one_above_it(folder):
    offenders = []
    for path in python_files(folder):
        rel = path.relative_to(ROOT).as_posix()
        for line, module in imports_of(path):
            reason = violation(folder, module)
            if reason and not any(
                rel == file and (module == allowed or module.startswith(allowed + "."))
                for file, allowed in ALLOWED
            ):
                offenders.append(f"{rel}:{line}: import {module} — {reason}")
    assert offenders == [], "\n".join(offenders)


@pytest.mark.parametrize("folder", ["tests", "examples"])
def test_tests_and_examples_use_the_namespace(folder):
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: import {module}"
        for path in python_files(folder)
        for line, module in imports_of(path)
        if module.split(".")[0] in GENERIC
    ]
    assert offenders == [], "\n".join(offenders)


def test_every_package_folder_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    assert mapping == {package: folder for folder, (package, _, _) in FOLDERS.items()}
    wanted = {
        module_name(init)
        for folder in FOLDERS
        for init in (ROOT / folder).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert set(config["packages"]) == wanted


# The unit tests mirror the package tree: tests/unit/<folder>/ tests the folder <folder>/ (its
# subfolders likewise); only the checks of the tree itself and of the test helpers stay on top.
TOP_LEVEL_UNIT_TESTS = {"test_layers.py", "test_waiting.py", "test_optional.py"}


def test_unit_tests_mirror_the_package_tree():
    unit = ROOT / "tests" / "unit"
    strays = sorted(p.name for p in unit.glob("test_*.py") if p.name not in TOP_LEVEL_UNIT_TESTS)
    assert strays == [], f"move into tests/unit/<folder>/ of what they test: {strays}"
    unmirrored = sorted(
        rel.as_posix()
        for d in unit.rglob("*")
        if d.is_dir() and "__pycache__" not in d.parts
        for rel in [d.relative_to(unit)]
        if not (ROOT / rel).is_dir()
    )
    assert unmirrored == [], f"tests/unit folders without a package folder: {unmirrored}"
