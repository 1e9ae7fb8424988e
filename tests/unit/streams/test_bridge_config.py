"""What the worker hands its bridge child: a plain BridgeConfig, so the child never imports the
settings module and pydantic (streams/bridge_process.py)."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

from cityops.settings import Settings
from cityops.streams.bridge_process import BridgeConfig, bridge_for


def test_the_config_carries_what_the_bridge_uses(tmp_path: Path):
    settings = Settings(
        home=tmp_path,
        kafka_bootstrap="127.0.0.1:9",
        kafka_security_protocol="SASL_SSL",
        kafka_username="cityops-worker",
        kafka_password="s3cret",
        topic_prefix="t.",
        partitions=4,
        bridge_linger_seconds=0.25,
        fetch_wait_ms=500,
        tick_seconds=2.0,
    )
    config = pickle.loads(pickle.dumps(BridgeConfig.of(settings)))  # as the spawn hands it over
    assert config.kafka == settings.kafka and config.kafka.password == "s3cret"
    a, b = bridge_for(settings), bridge_for(config)
    for name in ("source", "bundles", "group", "partitions", "linger", "fetch_wait_ms"):
        assert getattr(a, name) == getattr(b, name), name
    assert (b.source, b.group, b.linger, b.fetch_wait_ms) == (
        "t.city.events",
        "t.cityops-intake",
        0.25,
        500,
    )


def test_the_bridge_child_imports_no_pydantic():
    code = (
        "import sys\n"
        "from cityops.streams.bridge_process import run_bridge, bridge_for, BridgeConfig\n"
        "import cityops.logjson, cityops.streams.intake, cityops.streams.metrics\n"
        "import cityops.schemas.registry, cityops.streams.incidents.policy\n"
        "import cityops.streams.readings.rules, cityops.streams.clock\n"
        "print(sorted(m for m in ('pydantic', 'pydantic_settings', 'cityops.settings',"
        " 'clickhouse_driver', 'faust') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_spawned_bridge_child_does_not_import_the_workers_main_module(tmp_path: Path):
    """A parent whose main module imports the settings (as the CLI does): its spawned children
    import pydantic through it, unless spawned under `_no_main_for_the_child`."""
    (tmp_path / "childcheck.py").write_text(
        "import sys\n\ndef report():\n    sys.exit(1 if 'pydantic' in sys.modules else 0)\n"
    )
    script = tmp_path / "parent.py"
    script.write_text(
        "import multiprocessing, sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import cityops.settings  # what the CLI, a worker's main module, imports\n"
        "import childcheck\n"
        "from cityops.streams.bridge_process import _no_main_for_the_child\n"
        "if __name__ == '__main__':\n"
        "    ctx = multiprocessing.get_context('spawn')\n"
        "    for light in (False, True):\n"
        "        child = ctx.Process(target=childcheck.report)\n"
        "        if light:\n"
        "            with _no_main_for_the_child():\n"
        "                child.start()\n"
        "        else:\n"
        "            child.start()\n"
        "        child.join(60)\n"
        "        print(child.exitcode)\n"
        "    assert sys.modules['__main__'].__file__ == __file__\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["1", "0"]
