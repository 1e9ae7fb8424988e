"""Migrations on the real ClickHouse server: versioned, idempotent, and the views answer."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from cityops.storage.client import connect, migrate, schema_version
from cityops.storage.ddl import MIGRATIONS, TABLES
from cityops.storage.tables import WRITTEN
from tests.databases import drop_database


@pytest.fixture
def a_database(services):
    """A target with a fresh database name on the shared server, dropped after the test."""
    target = services.clickhouse.with_database(f"m_{uuid.uuid4().hex[:10]}")
    yield target
    drop_database(target, target.database)


def table_columns(client, database):
    rows = client.execute(
        "SELECT table, name, type FROM system.columns WHERE database = %(db)s ORDER BY table, name",
        {"db": database},
    )
    return rows


def test_migrations_apply_all_versions_once(a_database):
    target = a_database
    client = connect(target, database=False)
    applied = migrate(client, target.database)
    assert applied == [m.version for m in MIGRATIONS]
    assert schema_version(client, target.database) == MIGRATIONS[-1].version
    tables = {
        r[0]
        for r in client.execute(
            "SELECT name FROM system.tables WHERE database = %(db)s", {"db": target.database}
        )
    }
    assert set(TABLES) | {"schema_version", "incidents_current", "measures"} <= tables


def test_the_written_tables_have_the_declared_columns(a_database):
    """The writer inserts in the order of storage/tables.py: a migrated server has exactly those
    columns, names, types and order."""
    target = a_database
    client = connect(target, database=False)
    migrate(client, target.database)
    for table, columns in WRITTEN.items():
        described = client.execute(f"DESCRIBE TABLE {target.database}.{table}")
        assert [(row[0], row[1]) for row in described] == list(columns), table


def test_migrating_twice_changes_nothing(a_database):
    target = a_database
    client = connect(target, database=False)
    migrate(client, target.database)
    before = table_columns(client, target.database)
    versions_before = client.execute(f"SELECT count() FROM {target.database}.schema_version")
    assert migrate(client, target.database) == []
    assert table_columns(client, target.database) == before
    assert (
        client.execute(f"SELECT count() FROM {target.database}.schema_version") == versions_before
    )


def test_latest_incident_state_and_measures_ignore_redelivered_rows(a_database):
    target = a_database
    client = connect(target, database=False)
    migrate(client, target.database)
    db = target.database
    now = dt.datetime(2026, 11, 27, 8, 0, 0)
    rows = [
        {"incident_id": "A", "status": "resolved", "version": 3, "reported_at": now, "reopened": 0},
        {"incident_id": "A", "status": "closed", "version": 4, "reported_at": now, "reopened": 0},
        {"incident_id": "A", "status": "closed", "version": 4, "reported_at": now, "reopened": 0},
        {"incident_id": "B", "status": "closed", "version": 6, "reported_at": now, "reopened": 1},
        {
            "incident_id": "C",
            "status": "dispatched",
            "version": 1,
            "reported_at": now,
            "reopened": 0,
        },
    ]
    client.execute(
        f"INSERT INTO {db}.incidents (incident_id, status, version, reported_at, reopened) VALUES",
        rows,
    )
    current = client.execute(
        f"SELECT incident_id, status, version FROM {db}.incidents_current ORDER BY incident_id"
    )
    assert current == [("A", "closed", 4), ("B", "closed", 6), ("C", "dispatched", 1)]
    ((incidents, closure, resolution),) = client.execute(
        f"SELECT incidents, closure_rate, resolution_rate FROM {db}.measures"
    )
    assert incidents == 3
    assert abs(closure - 2 / 3) < 1e-9
    # B was reopened once: closed, but not actually resolved.
    assert abs(resolution - 1 / 2) < 1e-9


def database_at(target, version: int):
    """A client and database name for `target`'s database migrated up to `version` only, each
    migration recorded as `migrate()` records it."""
    from cityops.storage.ddl import SCHEMA_VERSION_TABLE

    client = connect(target, database=False)
    db = target.database
    client.execute(f"CREATE DATABASE {db}")
    client.execute(SCHEMA_VERSION_TABLE.format(db=db))
    for migration in MIGRATIONS[:version]:
        for statement in migration.statements:
            client.execute(statement.format(db=db))
        client.execute(
            f"INSERT INTO {db}.schema_version (version, description, applied_at) VALUES",
            [(migration.version, migration.description, dt.datetime(2026, 11, 1))],
        )
    return client, db


def test_migration_5_copies_the_incidents_and_event_ids_stored_before_it(a_database):
    target = a_database
    client, db = database_at(target, 4)  # a database as it stood before migration 5
    now = dt.datetime(2026, 11, 27, 8, 0, 0)
    client.execute(
        f"INSERT INTO {db}.incidents (incident_id, title, version, reported_at) VALUES",
        [("A", "井盖", 1, now), ("A", "井盖", 2, now), ("B", "路灯", 1, now)],
    )
    client.execute(
        f"INSERT INTO {db}.events (id, time, incident_id) VALUES",
        [("e1", now, "A"), ("e2", now, ""), ("e3", now, "B")],
    )
    assert migrate(client, db) == [m.version for m in MIGRATIONS[4:]]  # 5 and any later
    assert client.execute(
        f"SELECT incident_id, max(version) FROM {db}.incidents_by_report "
        "GROUP BY incident_id ORDER BY incident_id"
    ) == [("A", 2), ("B", 1)]
    assert client.execute(f"SELECT incident_id, id FROM {db}.incident_event_ids ORDER BY id") == [
        ("A", "e1"),
        ("B", "e3"),
    ]
    # and rows written afterwards arrive through the materialized views
    client.execute(
        f"INSERT INTO {db}.incidents (incident_id, title, version, reported_at) VALUES",
        [("C", "噪音", 1, now)],
    )
    client.execute(f"INSERT INTO {db}.events (id, time, incident_id) VALUES", [("e4", now, "C")])
    assert client.execute(f"SELECT count() FROM {db}.incidents_by_report")[0][0] == 4
    assert client.execute(f"SELECT count() FROM {db}.incident_event_ids")[0][0] == 3


def test_migrations_11_to_14_carry_merged_into_through_the_copies_and_views(a_database):
    """A database as it stood at migration 10, with incidents stored: the later migrations keep
    what is stored ('' for the rows before them), feed `merged_into` to the dashboard's copies once
    (the old views are gone, not feeding a second row), and the shared views leave a merged
    duplicate out of the measures (并单)."""
    target = a_database
    client, db = database_at(target, 10)
    now = dt.datetime(2026, 11, 27, 8, 0, 0)
    columns = "incident_id, status, version, reported_at, updated_at"
    client.execute(
        f"INSERT INTO {db}.incidents ({columns}) VALUES",
        [("A", "dispatched", 1, now, now), ("B", "dispatched", 1, now, now)],
    )
    assert migrate(client, db) == [m.version for m in MIGRATIONS[10:]]
    later = now + dt.timedelta(minutes=5)
    client.execute(
        f"INSERT INTO {db}.incidents ({columns}, merged_into) VALUES",
        [("A", "closed", 2, now, later, "B")],
    )
    for copy in ("incident_changes", "incidents_by_report"):
        assert client.execute(
            f"SELECT incident_id, version, merged_into FROM {db}.{copy} "
            "WHERE updated_at >= toDateTime('2026-11-01 00:00:00') ORDER BY incident_id, version"
        ) == [("A", 1, ""), ("A", 2, "B"), ("B", 1, "")], copy
    assert client.execute(
        f"SELECT incident_id, status, merged_into FROM {db}.incidents_current ORDER BY incident_id"
    ) == [("A", "closed", "B"), ("B", "dispatched", "")]
    assert client.execute(f"SELECT incidents, closed FROM {db}.measures") == [(1, 0)]
    views = client.execute(
        "SELECT name FROM system.tables WHERE database = %(db)s AND engine = 'MaterializedView' "
        "AND name LIKE 'incident%%' ORDER BY name",
        {"db": db},
    )
    assert views == [
        ("incident_changes_merged_mv",),
        ("incident_event_ids_mv",),
        ("incidents_by_report_merged_mv",),
    ]
