"""The claims state machine (认领, docs/claims.md): pure, one validated claim step at a time.

    (none) --item--> published --take--> claimed --progress--> in_progress --done--> done
    done --confirm(accepted)--> confirmed          done --confirm(not accepted)--> in_progress

Who may (on top of what the validator checked: schemas/claims.py): an item is published once,
by its community; a unit claims only a published item of its own district; progress and done come
only from the unit that claimed the item; only the owning community confirms or sends back.
A refused step changes nothing and says why (it goes to city.events.rejected like any reject).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec

from cityops.schemas.checks import quote
from cityops.schemas.claims import resident_units

STATUSES = ("published", "claimed", "in_progress", "done", "confirmed")
# verb → the statuses it may start from (None: the item does not exist yet)
_FROM: dict[str, tuple[str | None, ...]] = {
    "item": (None,),
    "take": ("published",),
    "progress": ("claimed", "in_progress"),
    "done": ("claimed", "in_progress"),
    "confirm": ("done",),
}
MAX_SEEN_IDS = 200  # event ids remembered per item (a redelivered step is applied once)


class ClaimItem(msgspec.Struct):
    """The latest state of one item."""

    item_id: str
    community: str
    district: str
    category: str
    title: str
    description: str
    status: str
    published_at: datetime
    updated_at: datetime
    unit_id: str = ""
    claimed_at: datetime | None = None
    done_at: datetime | None = None
    confirmed_at: datetime | None = None
    percent: int = 0
    sent_back: int = 0
    seq: int = 0  # transitions so far (the last one's number)
    seen: list[str] = msgspec.field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """One validated claim event, reduced to what the state machine needs."""

    event_id: str
    verb: str
    item_id: str
    at: datetime
    community: str | None = None
    unit_id: str | None = None
    category: str | None = None
    title: str | None = None
    description: str | None = None
    percent: int | None = None
    accepted: bool | None = None
    comment: str = ""


@dataclass(frozen=True)
class Transition:
    item_id: str
    seq: int
    at: datetime
    event_id: str
    verb: str
    from_status: str
    to_status: str
    actor: str  # the community code or the unit id
    comment: str


@dataclass(frozen=True)
class Outcome:
    """`item` (None: unchanged) and its `transition`, or `refusal` (why not), or neither: a
    duplicate (an event id already applied) that changes nothing."""

    item: ClaimItem | None = None
    transition: Transition | None = None
    refusal: str | None = None


DUPLICATE = Outcome()


def refusal_of(step: Step, item: ClaimItem | None) -> str | None:
    """Why `step` may not be applied to `item` (None: it may)."""
    status = item.status if item is not None else None
    if status not in _FROM[step.verb]:
        if item is None:
            return f"no published item {quote(step.item_id)}"
        if step.verb == "item":
            return f"item {quote(step.item_id)} is already published"
        return f"{step.verb} not allowed while item {quote(step.item_id)} is {item.status}"
    if item is None:
        return None
    if step.verb == "take":
        unit = resident_units()[step.unit_id or ""]
        if unit.district != item.district:
            return (
                f"unit {quote(unit.unit_id)} of district {unit.district} claims only items of "
                f"its district; {quote(item.item_id)} is in district {item.district}"
            )
    elif step.verb in ("progress", "done"):
        if step.unit_id != item.unit_id:
            return (
                f"item {quote(item.item_id)} was claimed by {quote(item.unit_id)}, "
                f"not {quote(step.unit_id or '')}: only the claiming unit reports on it"
            )
    elif step.verb == "confirm" and step.community != item.community:
        return (
            f"item {quote(item.item_id)} belongs to community {item.community}: only it "
            f"confirms, not {quote(step.community or '')}"
        )
    return None


def apply(step: Step, item: ClaimItem | None) -> Outcome:
    """The outcome of one step on the item's current state (None: not published)."""
    if item is not None and step.event_id in item.seen:
        return DUPLICATE
    refusal = refusal_of(step, item)
    if refusal is not None:
        return Outcome(refusal=refusal)
    if item is None:
        assert step.community is not None
        new = ClaimItem(
            item_id=step.item_id,
            community=step.community,
            district=step.community[:6],
            category=step.category or "",
            title=step.title or "",
            description=step.description or "",
            status="published",
            published_at=step.at,
            updated_at=step.at,
        )
        before = ""
    else:
        new = msgspec.structs.replace(item, seen=list(item.seen), updated_at=step.at)
        before = item.status
        _move(new, step)
    new.seq += 1
    new.seen = (new.seen + [step.event_id])[-MAX_SEEN_IDS:]
    actor = step.community if step.verb in ("item", "confirm") else step.unit_id
    transition = Transition(
        new.item_id, new.seq, step.at, step.event_id, step.verb, before, new.status,
        actor or "", step.comment,
    )  # fmt: skip
    return Outcome(item=new, transition=transition)


def _move(item: ClaimItem, step: Step) -> None:
    if step.verb == "take":
        item.status, item.unit_id, item.claimed_at = "claimed", step.unit_id or "", step.at
    elif step.verb == "progress":
        item.status = "in_progress"
        if step.percent is not None:
            item.percent = step.percent
    elif step.verb == "done":
        item.status, item.done_at, item.percent = "done", step.at, 100
    elif step.accepted:
        item.status, item.confirmed_at = "confirmed", step.at
    else:  # sent back: the unit works on
        item.status, item.done_at, item.sent_back = "in_progress", None, item.sent_back + 1
