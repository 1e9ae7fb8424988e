"""The published JSON Schema files: valid against their metaschema, and in step with the Python
contract they are built from (a drift here means a department validates against stale rules)."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from cityops.schemas.events import EVENT_TYPES
from cityops.schemas.json_schema import JSON_DIR, build_schemas, render
from cityops.schemas.taxonomy import CATEGORIES, DEPARTMENTS

FILES = sorted(JSON_DIR.glob("*.schema.json"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_schema_file_is_valid_draft_2020_12(path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))

    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["examples"]


def test_there_is_one_schema_per_event_type_plus_the_envelope() -> None:
    expected = {"cloudevent.schema.json"} | {f"{t}.schema.json" for t in EVENT_TYPES}

    assert {p.name for p in FILES} == expected


@pytest.mark.parametrize("name", sorted(build_schemas()))
def test_schema_file_matches_the_python_contract(name: str) -> None:
    on_disk = (JSON_DIR / name).read_text(encoding="utf-8")

    assert on_disk == render(build_schemas()[name]), "run: python -m cityops.schemas.json_schema"


def test_report_schema_lists_every_category_and_envelope_every_department() -> None:
    report = json.loads((JSON_DIR / "city.report.v1.schema.json").read_text(encoding="utf-8"))
    envelope = json.loads((JSON_DIR / "cloudevent.schema.json").read_text(encoding="utf-8"))

    assert set(report["$defs"]["report"]["properties"]["category"]["enum"]) == set(CATEGORIES)
    assert {
        s.removeprefix("/departments/") for s in envelope["properties"]["source"]["enum"]
    } == set(DEPARTMENTS)


def test_schemas_allow_unknown_fields_for_forward_compatibility() -> None:
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        assert '"additionalProperties": false' not in text, path.name
