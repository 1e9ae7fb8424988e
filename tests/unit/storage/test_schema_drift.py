"""The stored tables and the published event schemas describe the same things under the same names:
every envelope attribute and every report field the tables keep has its column, with a type that
holds the schema's values."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cityops.storage.ddl import MIGRATIONS
from cityops.storage.tables import WRITTEN

JSON_DIR = Path(__file__).resolve().parents[3] / "schemas" / "json"


def table_columns(table: str) -> dict[str, str]:
    """Column name -> type of `table`, from the migrations (CREATE and later ADD COLUMN)."""
    columns: dict[str, str] = {}
    for migration in MIGRATIONS:
        for statement in migration.statements:
            create = re.search(
                rf"CREATE TABLE IF NOT EXISTS {{db}}\.{table} \((.*?)\n\) ENGINE", statement, re.S
            )
            if create:
                for line in create.group(1).strip().splitlines():
                    name, kind = line.strip().rstrip(",").split(" ", 1)
                    columns[name] = kind
            if statement.startswith(f"ALTER TABLE {{db}}.{table} "):
                for name, kind in re.findall(
                    r"ADD COLUMN (?:IF NOT EXISTS )?(\w+) ([\w()]+)", statement
                ):
                    columns[name] = kind
    return columns


def schema(name: str) -> dict:
    return json.loads((JSON_DIR / f"{name}.schema.json").read_text())


def test_every_required_envelope_attribute_has_an_events_column():
    envelope = schema("cloudevent")
    columns = table_columns("events")
    assert columns["payload"] == "String"
    for attribute in envelope["required"]:
        if attribute in ("specversion", "data"):
            continue  # "1.0" always, and the data itself: both kept whole in `payload`
        assert attribute in columns, f"events has no column for envelope attribute {attribute!r}"


@pytest.mark.parametrize("table", ["events", "incidents"])
def test_location_fields_of_a_report_are_columns(table):
    location = schema("city.report.v1")["$defs"]["location"]["properties"]
    columns = table_columns(table)
    for level in ("district", "street", "community", "grid", "micro_grid"):
        assert level in location, f"report schema lost location.{level}"
        assert columns.get(level) == "String", f"{table}.{level} should hold the code as a String"


def test_report_fields_kept_in_columns_have_matching_types():
    report = schema("city.report.v1")["$defs"]["report"]["properties"]
    columns = table_columns("events")
    assert report["severity"]["maximum"] <= 255 and columns["severity"] == "UInt8"
    for field in ("category", "channel", "title"):
        assert field in report and columns[field] == "String"


def test_incident_columns_cover_the_contract():
    contract = (
        "incident_id status level unit_code district street community grid micro_grid "
        "category severity lead_department departments reported_at accepted_at resolved_at "
        "closed_at accept_due resolve_due escalations repeat_count reopened version "
        "updated_at"
    ).split()
    columns = table_columns("incidents")
    assert [c for c in contract if c not in columns] == []


@pytest.mark.parametrize("table", sorted(WRITTEN))
def test_declared_columns_are_what_the_migrations_create(table):
    """storage/tables.py (the writer's column order) and the migrations agree, names, types and
    order: a migration that changes a written table comes with an edit there."""
    assert list(table_columns(table).items()) == list(WRITTEN[table])
