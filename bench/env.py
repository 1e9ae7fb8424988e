"""What every benchmark runs in: the broker and ClickHouse (external ones when configured, else
started for the run), an own topic prefix and database per measured run, and the result files
(machine, versions, date) under bench/results/.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cityops.deploy import services as svc
from cityops.settings import KafkaConnection, Settings, kafka_connection
from cityops.storage.client import ClickHouseTarget, check_database_name, connect, migrate
from cityops.topics_admin import create_topics

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class BenchEnv:
    bootstrap: KafkaConnection | str
    clickhouse: ClickHouseTarget
    home: Path
    partitions: int
    # The embedded broker and ClickHouse this run started, by name (their CPU is measured too).
    services: dict = field(default_factory=dict)
    # The databases `isolated` created, for `drop_databases`.
    databases: list[str] = field(default_factory=list)

    def isolated(self, name: str, partitions: int | None = None) -> tuple[Settings, dict[str, str]]:
        """Own topics and database for one measured run."""
        from cityops.topics_admin import all_topics

        token = f"{name}_{uuid.uuid4().hex[:8]}"
        target = self.clickhouse.with_database(f"bench_{token}")
        client = connect(target, database=False)
        self.databases.append(target.database)
        migrate(client, target.database)
        client.disconnect()
        settings = Settings(
            home=self.home / token,
            **kafka_connection(self.bootstrap).settings_fields(),
            clickhouse_url=target.url(),
            topic_prefix=f"bench.{token}.",
            partitions=partitions or self.partitions,
            database=target.database,
        )
        settings.home.mkdir(parents=True, exist_ok=True)
        create_topics(self.bootstrap, all_topics(settings), settings.partitions)
        return settings, {**os.environ, **svc.worker_env(settings)}

    def drop_databases(self) -> None:
        """Drops every database `isolated` created (a run on a shared server leaves none)."""
        client = connect(self.clickhouse, database=False)
        try:
            while self.databases:
                name = check_database_name(self.databases.pop())
                client.execute(f"DROP DATABASE IF EXISTS {name}")
        finally:
            client.disconnect()


@contextlib.contextmanager
def bench_services(settings: Settings):
    """The broker and ClickHouse for a benchmark: external ones when configured, else embedded."""
    home = Path(tempfile.mkdtemp(prefix="cityops-bench-"))
    started = {}
    try:
        # An external broker is reached with the configured security settings.
        bootstrap: KafkaConnection | str | None = (
            settings.kafka if settings.kafka_bootstrap else None
        )
        if not bootstrap:
            port = svc.free_port()
            started["broker"] = svc.start_broker(home, port)
            bootstrap = f"127.0.0.1:{port}"
        if settings.clickhouse_url:
            target = settings.clickhouse
        else:
            tcp = svc.free_port()
            started["clickhouse"] = svc.start_clickhouse(home, tcp, svc.free_port())
            target = ClickHouseTarget(port=tcp)
        yield BenchEnv(bootstrap, target, home, settings.partitions, started)
    finally:
        for proc in reversed(list(started.values())):
            svc.stop(proc)


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from importlib.metadata import version

    versions = {}
    for pkg in (
        "faust-streaming",
        "aiokafka",
        "kafka-python",
        "clickhouse-driver",
        "msgspec",
        "rocksdict",
        "dash",
    ):
        with contextlib.suppress(Exception):
            versions[pkg] = version(pkg)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def write_result(name: str, result: dict, directory: Path | None = None) -> Path:
    """bench/results/<name>.json: the result with the machine (CPU, cores, versions, date)."""
    directory = directory or RESULTS
    directory.mkdir(parents=True, exist_ok=True)
    payload = {"bench": name, "machine": machine(), **result}
    path = directory / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False))
    return path
