"""ClickHouse rows of claim changes (docs/claims.md), in the column order of storage/tables.py, and
the state read back from them at start and after a rebalance (the latest row per item); and the
`annotations` row of a warning period a department published (city.annotation.v1)."""

from __future__ import annotations

from datetime import UTC, datetime

from cityops.schemas.event_types import Annotation, Claim, Event
from cityops.streams.claims.logic import ClaimItem, Step, Transition


def step_of(event: Event) -> Step:
    data = event.data
    assert isinstance(data, Claim)
    return Step(
        event_id=event.id,
        verb=event.type[len("city.claim.") :].split(".", 1)[0],
        item_id=data.item_id,
        at=event.time,
        community=data.community,
        unit_id=data.unit_id,
        category=data.category,
        title=data.title,
        description=data.description,
        percent=data.percent,
        accepted=data.accepted,
        comment=data.comment or "",
    )


def claim_row(item: ClaimItem) -> tuple:
    return (
        item.item_id,
        item.community,
        item.community[:9],
        item.district,
        item.category,
        item.title,
        item.description,
        item.status,
        item.unit_id,
        item.percent,
        item.sent_back,
        item.published_at,
        item.claimed_at,
        item.done_at,
        item.confirmed_at,
        list(item.seen),
        item.seq,  # version: one per transition, so the latest row is the latest state
        item.updated_at,
    )


def transition_row(transition: Transition, district: str) -> tuple:
    t = transition
    return (
        t.item_id, t.seq, t.at, t.event_id, t.verb, t.from_status, t.to_status, t.actor,
        t.comment, district,
    )  # fmt: skip


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def item_of(row: dict) -> ClaimItem:
    """A `latest_claims` row (storage/claim_queries.py) back as the state machine's item."""
    return ClaimItem(
        item_id=row["item_id"],
        community=row["community"],
        district=row["district"],
        category=row["category"],
        title=row["title"],
        description=row["description"],
        status=row["status"],
        published_at=_utc(row["published_at"]),  # type: ignore[arg-type]
        updated_at=_utc(row["updated_at"]),  # type: ignore[arg-type]
        unit_id=row["unit_id"],
        claimed_at=_utc(row["claimed_at"]),
        done_at=_utc(row["done_at"]),
        confirmed_at=_utc(row["confirmed_at"]),
        percent=row["percent"],
        sent_back=row["sent_back"],
        seq=int(row["version"]),
        seen=list(row["seen"]),
    )


def annotation_row(event: Event, received_at: datetime) -> tuple:
    """The `annotations` row of a validated city.annotation.v1 event (times naive UTC). Its id is
    "<department>/<event id>": a department cannot replace another's period by reusing an id,
    and its own retry (same id) is the same row; `received_at` (the broker's timestamp) keeps a
    redelivery identical."""
    data = event.data
    assert isinstance(data, Annotation)
    return (
        f"{event.department}/{event.id}",
        event.department,
        data.actor or event.department,
        data.kind,
        data.label,
        data.district or "",
        _naive(data.start),
        _naive(data.end),
        _naive(received_at),
    )


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)
