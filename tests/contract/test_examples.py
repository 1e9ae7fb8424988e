"""Every example file is one test: valid ones pass the JSON Schema and the Python validator,
invalid ones fail the validator with exactly the error written next to them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from cityops.schemas.events import InvalidEvent, parse_event
from cityops.schemas.json_schema import JSON_DIR

EXAMPLES = Path(__file__).parents[2] / "schemas" / "examples"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for kind in ("valid", "invalid"):
        argument = f"{kind}_example"
        if argument in metafunc.fixturenames:
            paths = sorted((EXAMPLES / kind).glob("*.json"))
            metafunc.parametrize(argument, paths, ids=[p.stem for p in paths])


def _schemas() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in JSON_DIR.glob("*.json")}


def _validator_for(event_type: str) -> Draft202012Validator:
    schemas = _schemas()
    registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    return Draft202012Validator(
        schemas[f"{event_type}.schema.json"],
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _payload(case: dict) -> bytes:
    if "raw" in case:
        return case["raw"].encode("utf-8")
    if "raw_base64" in case:
        return base64.b64decode(case["raw_base64"])
    return msgspec.json.encode(case["event"])


def test_valid_example_passes_json_schema_and_validator(valid_example: Path) -> None:
    payload = valid_example.read_bytes()
    document = json.loads(payload)

    errors = [e.message for e in _validator_for(document["type"]).iter_errors(document)]
    event = parse_event(payload, now=NOW)

    assert errors == []
    assert event.id == document["id"]
    assert event.raw == payload


def test_invalid_example_is_rejected_with_its_error(invalid_example: Path) -> None:
    case = json.loads(invalid_example.read_text(encoding="utf-8"))

    with pytest.raises(InvalidEvent) as rejected:
        parse_event(_payload(case), now=NOW)

    assert str(rejected.value) == case["error"]


def test_every_type_has_a_valid_example() -> None:
    from cityops.schemas.events import EVENT_TYPES

    names = {p.name.split(".json")[0] for p in (EXAMPLES / "valid").glob("*.json")}
    assert {t for t in EVENT_TYPES if not any(n.startswith(t) for n in names)} == set()
