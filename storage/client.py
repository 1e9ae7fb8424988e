"""Connections to ClickHouse and the migration step.

The one place that turns a ClickHouse target (`cityops.clickhouse_target`, parsed from the
`clickhouse://user:password@host:port/database` URL) into a clickhouse-driver client; processors,
dashboard, launcher and tests all come through here.
"""

from __future__ import annotations

import datetime as dt

from clickhouse_driver import Client

# The target lives in the configuration layer; storage modules keep importing it from here.
from cityops.clickhouse_target import ClickHouseTarget, check_database_name
from cityops.storage.cluster_ddl import (
    cluster_statements,
    create_database_statement,
    schema_version_statement,
)
from cityops.storage.ddl import MIGRATIONS, SCHEMA_VERSION_TABLE

__all__ = ["ClickHouseTarget", "check_database_name", "connect", "migrate", "schema_version"]


# On a cluster (CONTRACT §9) the named tables are Distributed, and a query over one with an
# `IN (SELECT … FROM <another Distributed table>)` is refused by default ("double-distributed").
# `local` runs the subquery on each shard against its local table: correct here because every
# incident-keyed table is sharded by the same key (storage/cluster_ddl.py), so an incident's
# rows of every table live on one shard. No effect on a single server.
CLIENT_SETTINGS = {"distributed_product_mode": "local"}


# Migrations on a cluster wait for every node to run each `ON CLUSTER` statement (the server's
# distributed_ddl_task_timeout is 180 s); on a loaded machine one statement has taken over 60 s.
MIGRATE_TIMEOUT = 300


def connect(
    target: ClickHouseTarget, *, database: bool = True, timeout: float = 60, **settings
) -> Client:
    """A client for `target`; `database=False` connects without selecting the database;
    `timeout` bounds each send and receive in seconds."""
    return Client(
        host=target.host,
        port=target.port,
        user=target.user,
        password=target.password,
        database=target.database if database else "default",
        connect_timeout=5,
        send_receive_timeout=timeout,
        settings={**CLIENT_SETTINGS, **settings},
        secure=target.secure,
        verify=True,
        ca_certs=target.ca_file,
        # a cluster's other nodes, tried in turn when one does not answer
        alt_hosts=",".join(target.alt_hosts) or None,
    )


def migrate(client: Client, database: str, cluster: str | None = None) -> list[int]:
    """Apply pending migrations to `database`; returns the versions applied (idempotent).

    With `cluster` (CITYOPS_CLICKHOUSE_CLUSTER) every statement runs in its cluster form
    (storage/cluster_ddl.py): DDL `ON CLUSTER`, backfills once through the Distributed tables,
    waiting until every shard stored them. The single-node statements are those of ddl.py as
    they are."""
    db = check_database_name(database)
    client.execute(create_database_statement(db, cluster))
    version_table = SCHEMA_VERSION_TABLE.format(db=db)
    if cluster is not None:
        version_table = schema_version_statement(version_table, cluster)
    client.execute(version_table)
    done = {row[0] for row in client.execute(f"SELECT version FROM {db}.schema_version")}
    # A backfill through a Distributed table returns only once every shard stored its rows.
    settings = {"insert_distributed_sync": 1} if cluster is not None else None
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for statement in migration.statements:
            sql = statement.format(db=db)
            for step in [sql] if cluster is None else cluster_statements(sql, cluster):
                client.execute(step, settings=settings)
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
