"""The JSON Schema of the claim types (city.claim.*.v1, docs/claims.md): schemas/json_schema.py."""

from __future__ import annotations

from cityops.schemas.claims import CLAIM_CATEGORIES, COMMUNITY_PUBLISHER, ITEM_ID_PATTERN, verb_of
from cityops.schemas.event_types import MAX_REF_CHARS, MAX_TEXT_CHARS, MAX_TITLE_CHARS
from cityops.schemas.json_schema import (
    BASE_ID,
    CODE_PATTERNS,
    DRAFT,
    ENVELOPE_FILE,
    OPEN,
    Schema,
    _examples,
    _text,
)

_STEPS = {
    "item": "A community publishes a hard problem (难题) for resident units to claim.",
    "take": "A registered resident unit (驻地单位) claims a published item of its district.",
    "progress": "The claiming unit reports progress on its item.",
    "done": "The claiming unit reports its item completed.",
    "confirm": "The owning community confirms a completed item (accepted) or sends it back.",
}


def claim_type_schema(event_type: str) -> Schema:
    verb = verb_of(event_type)
    community_acts = verb in ("item", "confirm")
    properties: Schema = {
        "item_id": {
            "type": "string",
            "pattern": ITEM_ID_PATTERN,
            "description": "<community code>-<suffix>: the community's code leads the id.",
        },
        "community": {
            "type": "string",
            "pattern": CODE_PATTERNS["community"],
            "description": "The community acting (item, confirm); it publishes through "
            f"/departments/{COMMUNITY_PUBLISHER}.",
        },
        "unit_id": {
            **_text(MAX_REF_CHARS),
            "description": "The resident unit acting (take, progress, done): a unit of "
            "schemas/data/resident_units.json, published through its own department.",
        },
        "category": {"enum": sorted(CLAIM_CATEGORIES)},
        "title": _text(MAX_TITLE_CHARS, min_length=1),
        "description": _text(MAX_TEXT_CHARS),
        "percent": {"type": "integer", "minimum": 0, "maximum": 100},
        "accepted": {"type": "boolean", "description": "true confirms; false sends it back."},
        "actor": _text(MAX_REF_CHARS),
        "comment": _text(MAX_TEXT_CHARS),
    }
    required = ["item_id", "community" if community_acts else "unit_id"]
    if verb == "item":
        required += ["category", "title"]
    if verb == "confirm":
        required.append("accepted")
    source = f"/departments/{COMMUNITY_PUBLISHER}" if community_acts else None
    envelope: Schema = {"type": {"const": event_type}, "data": {"$ref": "#/$defs/claim"}}
    if source:
        envelope["source"] = {"const": source}
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}{event_type}.schema.json",
        "title": event_type,
        "description": _STEPS[verb] + " (docs/claims.md) " + OPEN,
        "allOf": [{"$ref": ENVELOPE_FILE}],
        "properties": envelope,
        "$defs": {
            "claim": {
                "type": "object",
                "required": required,
                "properties": properties,
                "additionalProperties": True,
            }
        },
        "examples": _examples(event_type),
    }
