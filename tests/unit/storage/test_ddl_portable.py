"""The DDL and the shared views run on a current ClickHouse engine (chdb) as well as on 18.16."""

from __future__ import annotations

import re

import pytest

from cityops.storage.ddl import MIGRATIONS, SCHEMA_VERSION_TABLE

chdb_session = pytest.importorskip("chdb.session")

FORBIDDEN = ("LowCardinality", "DateTime64", "JSONExtract", " OVER ", " TTL ")


@pytest.fixture(scope="module")
def current_clickhouse():
    """An in-process current ClickHouse with the cityops schema applied."""
    session = chdb_session.Session()
    session.query("CREATE DATABASE IF NOT EXISTS conformance")
    session.query(SCHEMA_VERSION_TABLE.format(db="conformance"))
    for migration in MIGRATIONS:
        for statement in migration.statements:
            session.query(statement.format(db="conformance"))
    yield session
    session.close()


def test_every_statement_avoids_features_missing_on_18_16():
    for migration in MIGRATIONS:
        for statement in migration.statements:
            for word in FORBIDDEN:
                assert word not in statement, f"migration {migration.version} uses {word.strip()}"


def test_schema_applies_on_current_clickhouse(current_clickhouse):
    tables = current_clickhouse.query(
        "SELECT name FROM system.tables WHERE database = 'conformance' ORDER BY name", "CSV"
    )
    names = set(re.findall(r'"([^"]+)"', str(tables)))
    assert {
        "events",
        "incidents",
        "incident_transitions",
        "dept_tasks",
        "rejected_events",
        "incidents_current",
        "measures",
    } <= names


def test_measures_view_answers_on_current_clickhouse(current_clickhouse):
    current_clickhouse.query(
        "INSERT INTO conformance.incidents (incident_id, status, version, reopened) VALUES "
        "('x', 'resolved', 1, 0), ('x', 'closed', 2, 0), ('y', 'reported', 1, 0)"
    )
    result = str(
        current_clickhouse.query(
            "SELECT incidents, closed, closure_rate FROM conformance.measures", "CSV"
        )
    )
    assert result.strip() == "2,1,0.5"
