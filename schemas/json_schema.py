"""Builds the published JSON Schema files (schemas/json/, draft 2020-12) from the Python contract,
so departments writing Java, Go or anything else validate against the same rules as the validator.

`python -m cityops.schemas.json_schema` rewrites the files; tests/contract fails when they drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cityops.schemas.event_types import (
    ACTION_TYPES,
    ALARM_STEPS,
    ANNOTATION_TYPE,
    ASSIST_TYPE,
    CHANNELS,
    EVENT_TYPES,
    FEEDBACK_TYPE,
    MAX_ADDRESS_CHARS,
    MAX_FUTURE_DAYS,
    MAX_ID_CHARS,
    MAX_METRIC_CHARS,
    MAX_PAST_DAYS,
    MAX_PAYLOAD_BYTES,
    MAX_REF_CHARS,
    MAX_SEVERITY,
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    MEDIA_URL_PATTERN,
    MERGE_TYPE,
    MIN_SEVERITY,
    READING_TYPE,
    REASSIGN_TYPE,
    REPORT_TYPE,
    RETURN_TYPE,
    SOURCE_PREFIX,
    SPECVERSION,
)
from cityops.schemas.taxonomy import CATEGORIES, DEPARTMENTS

# A JSON Schema document (or part of one), as loaded by json.
Schema = dict[str, Any]

JSON_DIR = Path(__file__).parent / "json"
EXAMPLES_DIR = Path(__file__).parent / "examples" / "valid"
BASE_ID = "https://cityops.example/schemas/v1/"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
ENVELOPE_FILE = "cloudevent.schema.json"
OPEN = (
    "Fields not listed here are allowed and ignored (forward compatibility): consumers must not "
    "reject them, producers may add them."
)
# RFC 3339 date-time; "format" alone is an annotation in draft 2020-12, so say it as a pattern too.
RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
CODE_PATTERNS = {
    "district": r"^\d{6}$",
    "street": r"^\d{9}$",
    "community": r"^\d{12}$",
    "grid": r"^\d{14}$",
    "micro_grid": r"^\d{16}$",
}


def _text(max_length: int, description: str | None = None, min_length: int = 0) -> Schema:
    schema: Schema = {"type": "string", "maxLength": max_length}
    if min_length:
        schema["minLength"] = min_length
    if description:
        schema["description"] = description
    return schema


def envelope_schema() -> Schema:
    departments = sorted(DEPARTMENTS)
    return {
        "$schema": DRAFT,
        "$id": BASE_ID + ENVELOPE_FILE,
        "title": "cityops CloudEvent envelope",
        "description": (
            "CloudEvents 1.0 in JSON structured mode as published to the Kafka topic city.events. "
            f"The whole message must be at most {MAX_PAYLOAD_BYTES} bytes of UTF-8. "
            "Binary mode (ce_ Kafka headers, the data as the message value) is accepted too. "
            + OPEN
        ),
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "data"],
        "properties": {
            "specversion": {"const": SPECVERSION},
            "id": _text(
                MAX_ID_CHARS,
                "Unique per event; a retry reuses it (it is the idempotency key).",
                min_length=1,
            ),
            "source": {
                "type": "string",
                "description": "The publishing department, /departments/<department code>.",
                "enum": [SOURCE_PREFIX + code for code in departments],
            },
            "type": {"enum": list(EVENT_TYPES)},
            "time": {
                "type": "string",
                "format": "date-time",
                "pattern": RFC3339,
                "description": (
                    f"RFC 3339 with an offset; at most {MAX_FUTURE_DAYS} day after and "
                    f"{MAX_PAST_DAYS} days before the time of receipt."
                ),
            },
            "subject": {"type": "string"},
            "datacontenttype": {"type": "string", "pattern": r"^application/json\s*(;.*)?$"},
            "dataschema": {"type": "string", "format": "uri-reference"},
            "partitionkey": {
                "type": "string",
                "description": (
                    "The Kafka key. For city.report.v1: the location's street code, or its "
                    "district code when it has no street."
                ),
            },
            "data": {"type": "object"},
        },
        "additionalProperties": True,
    }


def _location() -> Schema:
    codes = {
        level: {
            "type": "string",
            "pattern": pattern,
            "description": f"A {level} code of the city registry (cityops registry export).",
        }
        for level, pattern in CODE_PATTERNS.items()
    }
    return {
        "type": "object",
        "description": (
            "Where the matter is. Every code given must exist and lie inside the nearest code "
            "given above it; lat/lon (WGS-84) come together and must fall inside the given "
            "district. " + OPEN
        ),
        "required": ["district"],
        "properties": {
            **codes,
            "lat": {"type": "number"},
            "lon": {"type": "number"},
            "address": _text(MAX_ADDRESS_CHARS),
        },
        "dependentRequired": {"lat": ["lon"], "lon": ["lat"]},
        "additionalProperties": True,
    }


def _report() -> Schema:
    return {
        "type": "object",
        "required": ["channel", "category", "severity", "title", "location"],
        "properties": {
            "channel": {"enum": list(CHANNELS)},
            "category": {
                "enum": sorted(CATEGORIES),
                "description": "A code of the category taxonomy (cityops registry export --kind "
                "categories).",
            },
            "severity": {
                "type": "integer",
                "minimum": MIN_SEVERITY,
                "maximum": MAX_SEVERITY,
                "description": "1 minor … 4 extreme.",
            },
            "title": {**_text(MAX_TITLE_CHARS, min_length=1), "pattern": r"\S"},
            "description": _text(MAX_TEXT_CHARS),
            "location": {"$ref": "#/$defs/location"},
            "external_ref": _text(MAX_REF_CHARS, "e.g. the 12345 hotline ticket number"),
            "reporter_hash": _text(MAX_REF_CHARS, "a pseudonym of the reporter, never a name"),
            "sensor": {"$ref": "#/$defs/sensor"},
            "media_url": {
                **_text(MAX_URL_CHARS, "evidence: a photo of the matter (an http or https URL)"),
                "pattern": MEDIA_URL_PATTERN,
            },
        },
        "additionalProperties": True,
    }


def _sensor() -> Schema:
    return {
        "type": "object",
        "required": ["sensor_id", "metric", "value"],
        "properties": {
            "sensor_id": _text(MAX_REF_CHARS, min_length=1),
            "metric": {"type": "string"},
            "value": {"type": "number"},
            "unit": {"type": "string"},
            "threshold": {"type": "number"},
            "rule": {"type": "string", "description": "The early-warning rule that raised it."},
            "alarm": {
                "enum": list(ALARM_STEPS),
                "description": "A rule's step: raised opens, peak updates, cleared resolves.",
            },
        },
        "additionalProperties": True,
    }


def _reading() -> Schema:
    return {
        "type": "object",
        "required": ["sensor_id", "metric", "value", "location"],
        "properties": {
            "sensor_id": _text(MAX_REF_CHARS, min_length=1),
            "metric": _text(MAX_METRIC_CHARS, "e.g. water_level, ch4_lel", min_length=1),
            "value": {"type": "number"},
            "unit": _text(MAX_METRIC_CHARS),
            "location": {"$ref": "#/$defs/location"},
        },
        "additionalProperties": True,
    }


def _action(event_type: str) -> Schema:
    department = {"enum": sorted(DEPARTMENTS)}
    schema: Schema = {
        "type": "object",
        "required": ["incident_id", "department"],
        "properties": {
            "incident_id": _text(MAX_REF_CHARS, min_length=1),
            "department": {**department, "description": "The department acting."},
            "actor": _text(MAX_REF_CHARS, "who acted, within the department"),
            "comment": _text(MAX_TEXT_CHARS),
            "departments": {"type": "array", "items": department},
            "satisfied": {"type": "boolean"},
            "resolved": {"type": "boolean"},
            "reason": _text(MAX_TEXT_CHARS),
            "to_department": department,
            "into": _text(MAX_REF_CHARS, min_length=1),
        },
        "additionalProperties": True,
    }
    if event_type == ASSIST_TYPE:
        schema["required"].append("departments")
        schema["properties"]["departments"]["minItems"] = 1
        schema["properties"]["departments"]["description"] = "The departments asked to join."
    if event_type == FEEDBACK_TYPE:
        schema["required"].append("satisfied")
        schema["properties"]["satisfied"]["description"] = "The citizen's answer at follow-up."
        schema["properties"]["resolved"]["description"] = (
            "Was the problem actually solved? false reopens the incident with the same lead."
        )
    if event_type == RETURN_TYPE:
        schema["required"].append("reason")
        schema["properties"]["reason"] = {
            **_text(MAX_TEXT_CHARS, "why the task is not the department's own", min_length=1),
            "pattern": r"\S",
        }
    if event_type == MERGE_TYPE:
        schema["required"].append("into")
        schema["properties"]["into"]["description"] = (
            "The incident that takes over this one's reports; this one closes, merged into it."
        )
    if event_type == REASSIGN_TYPE:
        schema["required"].append("to_department")
        schema["properties"]["to_department"] = {
            **department,
            "description": "The new lead department; the current lead keeps it (return upheld).",
        }
    return schema


def type_schema(event_type: str) -> Schema:
    if event_type.startswith("city.claim."):
        from cityops.schemas.claim_schema import claim_type_schema  # it imports this module

        return claim_type_schema(event_type)
    if event_type == READING_TYPE:
        return _reading_schema()
    if event_type == ANNOTATION_TYPE:
        return _annotation_schema()
    is_report = event_type == REPORT_TYPE
    defs = (
        {"report": _report(), "location": _location(), "sensor": _sensor()}
        if is_report
        else {"action": _action(event_type)}
    )
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}{event_type}.schema.json",
        "title": event_type,
        "description": (
            "A matter reported to the city. A report with a district but no street goes to that "
            "district's dispatch desk."
            if is_report
            else "A department's step on an incident (CONTRACT §4)."
        )
        + " "
        + OPEN,
        "allOf": [{"$ref": ENVELOPE_FILE}],
        "properties": {
            "type": {"const": event_type},
            "data": {"$ref": "#/$defs/report" if is_report else "#/$defs/action"},
        },
        "$defs": defs,
        "examples": _examples(event_type),
    }


def _reading_schema() -> Schema:
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}{READING_TYPE}.schema.json",
        "title": READING_TYPE,
        "description": "One sensor reading: stored and evaluated by the early-warning rules, "
        "never an incident of its own (CONTRACT §11). " + OPEN,
        "allOf": [{"$ref": ENVELOPE_FILE}],
        "properties": {"type": {"const": READING_TYPE}, "data": {"$ref": "#/$defs/reading"}},
        "$defs": {"reading": _reading(), "location": _location()},
        "examples": _examples(READING_TYPE),
    }


def _annotation_schema() -> Schema:
    from cityops.schemas.annotations import KINDS, MAX_SPAN  # it imports the registry

    time = {"type": "string", "format": "date-time", "pattern": RFC3339}
    annotation = {
        "type": "object",
        "required": ["start", "end", "label", "kind"],
        "properties": {
            "start": {**time, "description": "When the period starts (with an offset)."},
            "end": {
                **time,
                "description": f"After start, at most {MAX_SPAN.days} days later.",
            },
            "label": {**_text(MAX_TITLE_CHARS, "shown as written", min_length=1), "pattern": r"\S"},
            "kind": {"enum": list(KINDS)},
            "district": {
                "type": "string",
                "pattern": CODE_PATTERNS["district"],
                "description": "One district's adcode; absent: the whole city.",
            },
            "actor": _text(MAX_REF_CHARS, "who, within the department"),
        },
        "additionalProperties": True,
    }
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}{ANNOTATION_TYPE}.schema.json",
        "title": ANNOTATION_TYPE,
        "description": "A warning period (a rainstorm alert, a festival) that shades the wall's "
        "time series; any department, for the whole city or one district (CONTRACT §7, §11). "
        + OPEN,
        "allOf": [{"$ref": ENVELOPE_FILE}],
        "properties": {
            "type": {"const": ANNOTATION_TYPE},
            "data": {"$ref": "#/$defs/annotation"},
        },
        "$defs": {"annotation": annotation},
        "examples": _examples(ANNOTATION_TYPE),
    }


def _examples(event_type: str) -> list[Schema]:
    paths = sorted(EXAMPLES_DIR.glob(f"{event_type}*.json"))
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths]


def build_schemas() -> dict[str, Schema]:
    """File name -> schema document, for every file of schemas/json/."""
    schemas = {ENVELOPE_FILE: envelope_schema()}
    schemas[ENVELOPE_FILE]["examples"] = _examples(REPORT_TYPE)[:1] + _examples(ACTION_TYPES[0])
    for event_type in EVENT_TYPES:
        schemas[f"{event_type}.schema.json"] = type_schema(event_type)
    return schemas


def render(schema: Schema) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2) + "\n"


def write_schemas(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in build_schemas().items():
        path = directory / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_schemas():
        print(path)
