"""Connections to ClickHouse and the migration step.

The one place that turns a `clickhouse://user:password@host:port/database` URL into a
clickhouse-driver client; processors, dashboard, launcher and tests all come through here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

from clickhouse_driver import Client

from storage.ddl import MIGRATIONS, SCHEMA_VERSION_TABLE

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class ClickHouseTarget:
    host: str = "127.0.0.1"
    port: int = 9000
    user: str = "default"
    password: str = ""
    database: str = "cityops"

    @classmethod
    def from_url(cls, url: str) -> ClickHouseTarget:
        parts = urlparse(url)
        if parts.scheme not in ("clickhouse", "tcp"):
            raise ValueError(f"ClickHouse URL must start with clickhouse://, got {url!r}")
        database = (parts.path or "/cityops").lstrip("/") or "cityops"
        check_database_name(database)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 9000,
            user=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            database=database,
        )

    def with_database(self, database: str) -> ClickHouseTarget:
        check_database_name(database)
        return ClickHouseTarget(self.host, self.port, self.user, self.password, database)

    def url(self) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"clickhouse://{auth}@{self.host}:{self.port}/{self.database}"


def check_database_name(name: str) -> str:
    # Identifiers cannot be bound parameters, so database names are whitelisted instead.
    if not _DB_NAME.match(name):
        raise ValueError(f"invalid ClickHouse database name {name!r}")
    return name


def connect(target: ClickHouseTarget, *, database: bool = True, **settings) -> Client:
    """A client for `target`; `database=False` connects without selecting the database."""
    return Client(
        host=target.host,
        port=target.port,
        user=target.user,
        password=target.password,
        database=target.database if database else "default",
        connect_timeout=5,
        send_receive_timeout=60,
        settings=settings or None,
    )


def migrate(client: Client, database: str) -> list[int]:
    """Apply pending migrations to `database`; returns the versions applied (idempotent)."""
    db = check_database_name(database)
    client.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    client.execute(SCHEMA_VERSION_TABLE.format(db=db))
    done = {row[0] for row in client.execute(f"SELECT version FROM {db}.schema_version")}
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for statement in migration.statements:
            client.execute(statement.format(db=db))
        client.execute(
            f"INSERT INTO {db}.schema_version (version, description, applied_at) VALUES",
            [
                (
                    migration.version,
                    migration.description,
                    dt.datetime.now(dt.UTC).replace(tzinfo=None),
                )
            ],
        )
        applied.append(migration.version)
    return applied


def schema_version(client: Client, database: str) -> int:
    db = check_database_name(database)
    rows = client.execute(f"SELECT max(version) FROM {db}.schema_version")
    return int(rows[0][0] or 0)


def ping(client) -> bool:
    return client.execute("SELECT 1")[0][0] == 1
