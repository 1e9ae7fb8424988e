"""Session fixtures: one real Tansu broker and one real ClickHouse server for the whole run,
started with the same launcher functions as `cityops up`; every test gets its own topic prefix,
consumer groups and database. External services are used instead when CITYOPS_KAFKA_BOOTSTRAP /
CITYOPS_CLICKHOUSE_URL are set."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cityops.deploy import services as svc
from cityops.schemas.topics import Topics
from cityops.settings import Settings
from cityops.storage.client import ClickHouseTarget, connect, migrate
from cityops.topics_admin import create_topics
from tests.databases import drop_database, scratch_databases


@dataclass
class ClickHouseHandle:
    """A ClickHouse server of the test run that a test may stop and start again (same data)."""

    home: Path
    tcp_port: int
    http_port: int
    proc: svc.Process | None = None

    def start(self) -> None:
        self.proc = svc.start_clickhouse(self.home, self.tcp_port, self.http_port)

    def stop(self) -> None:
        if self.proc is not None:
            svc.stop(self.proc)
            self.proc = None

    @property
    def target(self) -> ClickHouseTarget:
        return ClickHouseTarget(port=self.tcp_port, database="default")


@dataclass
class Services:
    bootstrap: str
    clickhouse: ClickHouseTarget
    home: Path
    processes: list[svc.Process] = field(default_factory=list)


@pytest.fixture(scope="session")
def services(tmp_path_factory) -> Services:
    """The broker and ClickHouse server shared by the whole run."""
    home = tmp_path_factory.mktemp("stack")
    started: list[svc.Process] = []
    bootstrap = os.environ.get("CITYOPS_KAFKA_BOOTSTRAP")
    url = os.environ.get("CITYOPS_CLICKHOUSE_URL")
    try:
        if not bootstrap:
            port = svc.free_port()
            started.append(svc.start_broker(home, port))
            bootstrap = f"127.0.0.1:{port}"
        if url:
            target = ClickHouseTarget.from_url(url)
        else:
            tcp, http = svc.free_port(), svc.free_port()
            started.append(svc.start_clickhouse(home, tcp, http))
            target = ClickHouseTarget(port=tcp, database="default")
        before = scratch_databases(target)
        yield Services(bootstrap, target, home, started)
        # Every test drops what it created; one left behind fails the run (listed by name).
        left = sorted(scratch_databases(target) - before)
        assert not left, f"test databases left behind on the shared ClickHouse: {left}"
    finally:
        for proc in reversed(started):
            svc.stop(proc)


@dataclass
class Isolated:
    prefix: str
    database: str
    settings: Settings
    topics: Topics
    ch: object
    env: dict[str, str]


@pytest.fixture
def isolated(services, tmp_path) -> Isolated:
    """A unique topic prefix, consumer-group prefix and migrated database for one test."""
    from cityops.topics_admin import all_topics

    token = uuid.uuid4().hex[:10]
    prefix, database = f"t{token}.", f"t_{token}"
    target = services.clickhouse.with_database(database)
    client = connect(target, database=False)
    migrate(client, database)
    client.disconnect()
    settings = Settings(
        home=tmp_path / "home",
        kafka_bootstrap=services.bootstrap,
        clickhouse_url=target.url(),
        topic_prefix=prefix,
        partitions=4,
        database=database,
    )
    settings.home.mkdir(parents=True, exist_ok=True)
    create_topics(services.bootstrap, all_topics(settings), settings.partitions)
    env = {
        **os.environ,
        "CITYOPS_HOME": str(settings.home),
        "CITYOPS_KAFKA_BOOTSTRAP": services.bootstrap,
        "CITYOPS_CLICKHOUSE_URL": target.url(),
        "CITYOPS_TOPIC_PREFIX": prefix,
        "CITYOPS_PARTITIONS": "4",
        "CITYOPS_DATABASE": database,
    }
    ch = connect(target)
    try:
        yield Isolated(prefix, database, settings, Topics(prefix), ch, env)
    finally:
        ch.disconnect()
        drop_database(target, database)


@pytest.fixture
def private_clickhouse(tmp_path) -> ClickHouseHandle:
    """A ClickHouse server of this test alone, which the test may stop and restart."""
    handle = ClickHouseHandle(tmp_path / "private-ch", svc.free_port(), svc.free_port())
    handle.start()
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave screenshots and logs for people to look at (not committed)."""
    path = Path(os.environ.get("CITYOPS_TEST_ARTIFACTS", "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path
