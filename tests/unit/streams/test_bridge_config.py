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
