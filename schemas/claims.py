"""Resident-unit claims (认领, docs/claims.md): the sample registry of resident units
(驻地单位), the categories of hard problems a community may publish, and the checks on a claim
event's data that the validator (schemas/events.py) runs. Who may do which step on which item is
decided later, on the item's state (streams/claims/logic.py).

Identity: a community publishes through the grid workforce's publisher (`/departments/grid_inspect`)
and names itself in `data.community` (a community code of the registry); a resident unit names
itself in `data.unit_id` (a unit of the registry below) and publishes through its own department's
publisher (the unit's `department`): a unit id sent from any other department is refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

from cityops.schemas.checks import check_text, quote
from cityops.schemas.event_types import (
    MAX_REF_CHARS,
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
    Claim,
    InvalidEvent,
)
from cityops.schemas.registry import DATA_DIR, Registry

COMMUNITY_PUBLISHER = "grid_inspect"  # the department communities publish through (网格员队伍)
UNIT_KINDS = ("agency", "school", "hospital", "company")
# code → (name_zh, name_en): the hard problems a community may publish (难题清单)
CLAIM_CATEGORIES: dict[str, tuple[str, str]] = {
    "old_estate": ("老旧小区改造", "Old-estate renovation"),
    "parking": ("停车难", "Parking shortage"),
    "waste_sorting": ("垃圾分类", "Waste sorting"),
    "unsafe_building": ("危房治理", "Unsafe buildings"),
    "elderly_care": ("为老服务", "Care for the elderly"),
    "greening": ("绿化美化", "Greening"),
}
# An item id starts with its community's 12-digit code, then a dash and 1-40 letters, digits,
# dots, dashes or underscores: the community (and so the street, the Kafka key) is in the id.
ITEM_ID_PATTERN = r"^\d{12}-[A-Za-z0-9._-]{1,40}$"
_ITEM_ID = re.compile(ITEM_ID_PATTERN)
_TYPE_PREFIX = "city.claim."


@dataclass(frozen=True, slots=True)
class ResidentUnit:
    unit_id: str
    district: str
    kind: str
    department: str
    name_zh: str
    name_en: str


@cache
def resident_units() -> dict[str, ResidentUnit]:
    """unit_id → unit, from schemas/data/resident_units.json (a sample per district)."""
    document = json.loads((DATA_DIR / "resident_units.json").read_text(encoding="utf-8"))
    return {entry["unit_id"]: ResidentUnit(**entry) for entry in document["units"]}


def verb_of(event_type: str) -> str:
    """ "city.claim.take.v1" → "take"."""
    return event_type[len(_TYPE_PREFIX) :].split(".", 1)[0]


def item_key(item_id: str) -> str:
    """The Kafka key of every event of an item: its community's street code (9 digits)."""
    return item_id[:9]


def check_claim(claim: Claim, event_type: str, sender: str, registry: Registry) -> None:
    """Shape and identity of one claim step (state is not known here)."""
    verb = verb_of(event_type)
    if not _ITEM_ID.match(claim.item_id):
        raise InvalidEvent("data.item_id", "must be <community code>-<1-40 of A-Z a-z 0-9 . _ ->")
    if verb in ("item", "confirm"):
        _check_community(claim, sender, registry)
    else:
        _check_unit(claim, sender)
    if verb == "item":
        if claim.category is None:
            raise InvalidEvent("data.category", f"required for {event_type}")
        if claim.category not in CLAIM_CATEGORIES:
            raise InvalidEvent("data.category", f"unknown claim category {quote(claim.category)}")
        if not claim.title or not claim.title.strip():
            raise InvalidEvent("data.title", f"required for {event_type}")
        if not claim.item_id.startswith(claim.community or ""):
            raise InvalidEvent("data.item_id", "must start with the publishing community's code")
    if verb == "progress" and claim.percent is not None and not 0 <= claim.percent <= 100:
        raise InvalidEvent("data.percent", "must be between 0 and 100")
    if verb == "confirm" and claim.accepted is None:
        raise InvalidEvent("data.accepted", f"required for {event_type}")
    check_text("data.title", claim.title, MAX_TITLE_CHARS)
    check_text("data.description", claim.description, MAX_TEXT_CHARS)
    check_text("data.comment", claim.comment, MAX_TEXT_CHARS)
    check_text("data.actor", claim.actor, MAX_REF_CHARS)


def _check_community(claim: Claim, sender: str, registry: Registry) -> None:
    if claim.community is None:
        raise InvalidEvent("data.community", "required: the community acting")
    unit = registry.unit(claim.community)
    if unit is None or unit.level != "community":
        raise InvalidEvent("data.community", f"unknown community {quote(claim.community)}")
    if sender != COMMUNITY_PUBLISHER:
        raise InvalidEvent(
            "source",
            f"a community publishes through /departments/{COMMUNITY_PUBLISHER}, "
            f"not {quote(sender)}",
        )


def _check_unit(claim: Claim, sender: str) -> None:
    if claim.unit_id is None:
        raise InvalidEvent("data.unit_id", "required: the resident unit acting")
    unit = resident_units().get(claim.unit_id)
    if unit is None:
        raise InvalidEvent(
            "data.unit_id", f"{quote(claim.unit_id)} is not a registered resident unit"
        )
    if unit.department != sender:
        raise InvalidEvent(
            "data.unit_id",
            f"{quote(claim.unit_id)} publishes through {quote(unit.department)}, "
            f"not {quote(sender)}: a unit acts only in its own name",
        )
