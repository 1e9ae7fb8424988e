"""The cluster form of the migrations (storage/cluster_ddl.py): one table of cases per statement
kind, then every shipped statement rendered (none is left without a cluster form)."""

from __future__ import annotations

import re

import pytest

from cityops.storage import ddl
from cityops.storage.cluster_ddl import (
    SHARDING_KEYS,
    cluster_statements,
    create_database_statement,
    schema_version_statement,
)

TABLES = [
    pytest.param(
        "CREATE TABLE IF NOT EXISTS db.events (\n    id String,\n    time DateTime\n)"
        " ENGINE = ReplacingMergeTree()\nPARTITION BY toYYYYMM(time)\nORDER BY (time, id)\n",
        [
            "CREATE TABLE IF NOT EXISTS db.events_local ON CLUSTER c (\n    id String,\n"
            "    time DateTime\n) ENGINE = ReplicatedReplacingMergeTree("
            "'/clickhouse/tables/{shard}/db/events', '{replica}')\n"
            "PARTITION BY toYYYYMM(time)\nORDER BY (time, id)\n",
            "CREATE TABLE IF NOT EXISTS db.events ON CLUSTER c AS db.events_local ENGINE = "
            f"Distributed(c, db, events_local, {SHARDING_KEYS['events']})",
        ],
        id="ReplacingMergeTree() keeps its partitions and key",
    ),
    pytest.param(
        "CREATE TABLE IF NOT EXISTS db.incidents (incident_id String, version UInt32)"
        " ENGINE = ReplacingMergeTree(version) ORDER BY incident_id",
        [
            "CREATE TABLE IF NOT EXISTS db.incidents_local ON CLUSTER c (incident_id String, "
            "version UInt32) ENGINE = ReplicatedReplacingMergeTree("
            "'/clickhouse/tables/{shard}/db/incidents', '{replica}', version) ORDER BY incident_id",
            "CREATE TABLE IF NOT EXISTS db.incidents ON CLUSTER c AS db.incidents_local ENGINE = "
            "Distributed(c, db, incidents_local, cityHash64(splitByChar('-', incident_id)[1]))",
        ],
        id="the version column follows the path and replica",
    ),
    pytest.param(
        "CREATE TABLE IF NOT EXISTS db.event_hours (hour DateTime, rows UInt64)"
        " ENGINE = SummingMergeTree() ORDER BY hour",
        [
            "CREATE TABLE IF NOT EXISTS db.event_hours_local ON CLUSTER c (hour DateTime, "
            "rows UInt64) ENGINE = ReplicatedSummingMergeTree("
            "'/clickhouse/tables/{shard}/db/event_hours', '{replica}') ORDER BY hour",
            "CREATE TABLE IF NOT EXISTS db.event_hours ON CLUSTER c AS db.event_hours_local "
            "ENGINE = Distributed(c, db, event_hours_local, cityHash64(hour))",
        ],
        id="SummingMergeTree stays summing",
    ),
]


@pytest.mark.parametrize(("statement", "expected"), TABLES)
def test_a_table_becomes_a_replicated_local_table_and_a_distributed_one(statement, expected):
    assert cluster_statements(statement, "c") == expected


VIEWS = [
    pytest.param(
        "CREATE VIEW IF NOT EXISTS db.measures AS\nSELECT count() FROM db.incidents_current",
        [
            "CREATE VIEW IF NOT EXISTS db.measures ON CLUSTER c AS\nSELECT count() FROM "
            "db.incidents_current"
        ],
        id="a view reads the Distributed tables, unchanged",
    ),
    pytest.param(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS db.mv TO db.event_hours AS SELECT "
        "toStartOfHour(time) AS hour, count() AS rows FROM db.events GROUP BY hour",
        [
            "CREATE MATERIALIZED VIEW IF NOT EXISTS db.mv ON CLUSTER c TO db.event_hours_local AS "
            "SELECT toStartOfHour(time) AS hour, count() AS rows FROM db.events_local GROUP BY hour"
        ],
        id="a materialized view feeds the local target from the local source",
    ),
    pytest.param(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS db.mv TO db.ids AS SELECT a,\n    b FROM db.events",
        [
            "CREATE MATERIALIZED VIEW IF NOT EXISTS db.mv ON CLUSTER c TO db.ids_local AS SELECT "
            "a,\n    b FROM db.events_local"
        ],
        id="a materialized view without a WHERE",
    ),
    pytest.param(
        "INSERT INTO db.ids (a, b) SELECT a, b FROM db.events WHERE a != ''",
        ["INSERT INTO db.ids (a, b) SELECT a, b FROM db.events WHERE a != ''"],
        id="a backfill runs once through the Distributed tables",
    ),
]


@pytest.mark.parametrize(("statement", "expected"), VIEWS)
def test_views_and_backfills(statement, expected):
    assert cluster_statements(statement, "c") == expected


ALTERS = [
    pytest.param(
        "ALTER TABLE db.incidents ADD COLUMN a UInt16 DEFAULT 0, ADD COLUMN b String DEFAULT ''",
        [
            "ALTER TABLE db.incidents_local ON CLUSTER c "
            "ADD COLUMN a UInt16 DEFAULT 0, ADD COLUMN b String DEFAULT ''",
            "DROP TABLE IF EXISTS db.incidents ON CLUSTER c",
            "CREATE TABLE IF NOT EXISTS db.incidents ON CLUSTER c AS db.incidents_local"
            f" ENGINE = Distributed(c, db, incidents_local, {SHARDING_KEYS['incidents']})",
        ],
        id="columns added: the local tables, then the Distributed one made again",
    ),
]


@pytest.mark.parametrize(("statement", "expected"), ALTERS)
def test_added_columns(statement, expected):
    assert cluster_statements(statement, "c") == expected


REFUSED = [
    pytest.param("ALTER TABLE db.events DROP COLUMN x", "no cluster form", id="a dropped column"),
    pytest.param(
        "ALTER TABLE db.events ADD COLUMN x UInt8, MODIFY COLUMN y UInt16",
        "no cluster form",
        id="an ALTER that also modifies",
    ),
    pytest.param(
        "CREATE TABLE IF NOT EXISTS db.unknown (a UInt8) ENGINE = MergeTree() ORDER BY a",
        "no sharding key",
        id="a table without a sharding key",
    ),
    pytest.param(
        "CREATE TABLE IF NOT EXISTS db.events (a UInt8) ENGINE = ReplicatedMergeTree('/p', 'r')"
        " ORDER BY a",
        "already replicated",
        id="a table that is replicated already",
    ),
    pytest.param(
        "CREATE TABLE IF NOT EXISTS db.events (a UInt8) ENGINE = Log", "no cluster form", id="Log"
    ),
    pytest.param("DROP TABLE IF EXISTS db.incidents", "never dropped", id="a data table dropped"),
    pytest.param(
        "DROP TABLE IF EXISTS db.incidents_local", "never dropped", id="a local table dropped"
    ),
]


def test_a_dropped_view_is_dropped_on_every_node():
    assert cluster_statements("DROP TABLE IF EXISTS db.incident_changes_mv", "c") == [
        "DROP TABLE IF EXISTS db.incident_changes_mv ON CLUSTER c"
    ]


@pytest.mark.parametrize(("statement", "message"), REFUSED)
def test_a_statement_without_a_cluster_form_is_refused(statement, message):
    with pytest.raises(ValueError, match=message):
        cluster_statements(statement, "c")


@pytest.mark.parametrize("name", ["", "a b", "c; DROP TABLE x", "1abc", "é", "x" * 65])
def test_a_bad_cluster_name_is_refused(name):
    with pytest.raises(ValueError, match="cluster name"):
        cluster_statements("CREATE VIEW IF NOT EXISTS db.v AS SELECT 1", name)


def test_the_schema_version_table_is_one_replicated_table_on_every_node():
    rendered = schema_version_statement(ddl.SCHEMA_VERSION_TABLE.format(db="db"), "c")
    assert "ON CLUSTER c" in rendered
    assert (
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/db/schema_version', "
        "'{shard}-{replica}') ORDER BY version" in rendered
    )
    assert "Distributed" not in rendered


def test_create_database():
    assert create_database_statement("db", None) == "CREATE DATABASE IF NOT EXISTS db"
    assert create_database_statement("db", "c") == "CREATE DATABASE IF NOT EXISTS db ON CLUSTER c"


ALL = [
    pytest.param(statement, id=f"migration {m.version} #{i}")
    for m in ddl.MIGRATIONS
    for i, statement in enumerate(m.statements)
]


@pytest.mark.parametrize("statement", ALL)
def test_every_shipped_statement_has_a_cluster_form(statement):
    single = statement.format(db="cityops")
    rendered = cluster_statements(single, "cityops")
    for sql in rendered:
        if not sql.startswith("INSERT"):
            assert " ON CLUSTER cityops " in sql + " "
        # a materialized view or a replicated table never reads or feeds a Distributed table
        if "MATERIALIZED VIEW" in sql:
            assert re.search(r" TO cityops\.\w+_local ", sql)
            assert re.search(r" FROM cityops\.\w+_local\b", sql)
    # same columns, partitions and sorting key as the single-node table
    if single.lstrip().startswith("CREATE TABLE"):
        assert _columns(rendered[0]) == _columns(single)
        assert _after_engine(rendered[0]) == _after_engine(single)


def _columns(sql: str) -> str:
    return sql.split(" (", 1)[1].split(") ENGINE", 1)[0]


def _after_engine(sql: str) -> str:
    return re.split(r"ENGINE = \w+\([^()]*\)", sql, maxsplit=1)[1]


def test_every_sharding_key_reads_columns_of_its_table():
    for m in ddl.MIGRATIONS:
        for statement in m.statements:
            sql = statement.format(db="db")
            found = re.match(r"\s*CREATE TABLE IF NOT EXISTS db\.(\w+) \((.*?)\) ENGINE", sql, re.S)
            if not found:
                continue
            columns = {line.split()[0] for line in found[2].split(",\n") if line.strip()}
            key = SHARDING_KEYS[found[1]]
            pattern = r"\b(incident_id|street|district|hour|reject_id|sensor_id|department)\b"
            named = set(re.findall(pattern, key))
            assert named and named <= columns, f"{found[1]}: key {key} names other columns"


class RecordingClient:
    """Stands in for a fresh server: no migration applied yet; records what runs."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, dict | None]] = []

    def execute(self, sql, params=None, settings=None):
        self.ran.append((sql, settings))
        return []


def test_without_a_cluster_migrate_runs_the_single_node_statements_as_they_are():
    from cityops.storage.client import migrate

    client = RecordingClient()
    migrate(client, "db")
    ddl_run = [
        sql for sql, _ in client.ran if not sql.startswith(("SELECT", "INSERT INTO db.schema"))
    ]
    assert ddl_run == [
        "CREATE DATABASE IF NOT EXISTS db",
        ddl.SCHEMA_VERSION_TABLE.format(db="db"),
        *(s.format(db="db") for m in ddl.MIGRATIONS for s in m.statements),
    ]
    assert all(settings is None for _, settings in client.ran)


def test_with_a_cluster_migrate_runs_the_cluster_forms():
    from cityops.storage.client import migrate

    client = RecordingClient()
    migrate(client, "db", cluster="c")
    ddl_run = [sql for sql, _ in client.ran if sql.startswith("CREATE")]
    assert ddl_run[0] == "CREATE DATABASE IF NOT EXISTS db ON CLUSTER c"
    assert all(" ON CLUSTER c" in sql for sql in ddl_run)
    backfills = [(sql, st) for sql, st in client.ran if sql.startswith("INSERT INTO db.incident")]
    assert backfills and all(st == {"insert_distributed_sync": 1} for _, st in backfills)
