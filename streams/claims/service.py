"""The claims consumer (docs/claims.md): a plain aiokafka loop in every stream worker that reads
the internal topic `cityops.internal.claims` in a consumer group of its own — the valid claim
events (city.claim.*.v1) exactly as received, forwarded by the intake bridge (streams/intake.py),
which validated them and keyed them by the item's street — applies them to the items' states
(streams/claims/logic.py) and stores the changes in ClickHouse; a refused step is stored in
rejected_events and published on city.events.rejected with its reason.

Order per step: rows stored → rejects sent and acknowledged → offsets committed: at-least-once, and
a redelivered step is applied once (the item remembers the event ids it applied; a refusal comes
back with the same reject id). The items' states live in ClickHouse (a city has thousands, not
millions): they are read back at start and whenever the group hands this worker partitions.
Invalid claim events never get here: the intake bridge rejects them, like every invalid event.

The same consumer stores the warning periods departments publish (city.annotation.v1, CONTRACT §11):
the bridge forwards the valid ones on the same internal topic, and each becomes one `annotations`
row (streams/claims/rows.py `annotation_row`), which the wall shades its chart with.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

from cityops.schemas.claims import item_key
from cityops.schemas.event_types import (
    ANNOTATION_TYPE,
    CLAIM_TYPES,
    Annotation,
    Claim,
    InvalidEvent,
)
from cityops.schemas.events import parse_event
from cityops.schemas.registry import Registry, load_registry
from cityops.schemas.topics import Topics
from cityops.settings import Settings
from cityops.storage.claim_queries import latest_claims
from cityops.storage.client import connect
from cityops.storage.writer import ClickHouseWriter
from cityops.streams.claims.logic import ClaimItem, apply
from cityops.streams.claims.rows import (
    annotation_row,
    claim_row,
    item_of,
    step_of,
    transition_row,
)
from cityops.streams.incidents.model import RejectIn
from cityops.streams.incidents.out import rejected_headers
from cityops.streams.incidents.rows import reject_id_for, rejected_row
from cityops.streams.kafka import Outbox, partition_for, producer

log = logging.getLogger(__name__)
_MARK = b"city.claim."  # every claim event's bytes hold it (its type): a cheap filter first
_ANNOTATION_MARK = ANNOTATION_TYPE.encode()
_TYPES = frozenset(CLAIM_TYPES)


def is_claim(value: bytes | None, headers) -> bool:
    """Might this message be a claim or annotation event? (False: certainly not.)"""
    if headers:
        for name, data in headers:
            if name == "ce_type":
                return bytes(data).startswith((_MARK, _ANNOTATION_MARK))
    return bool(value) and (_MARK in value or _ANNOTATION_MARK in value)  # type: ignore[operator]


class _Reload(ConsumerRebalanceListener):
    def __init__(self, service: ClaimsService) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked) -> None:
        return None

    async def on_partitions_assigned(self, assigned) -> None:
        self.service.reload_due = True


class ClaimsService:
    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.group = f"{settings.topic_prefix}cityops-claims"
        self.registry = registry or load_registry()
        self.writer = ClickHouseWriter(settings.clickhouse, max_delay=settings.flush_seconds)
        self.items: dict[str, ClaimItem] = {}
        self.reload_due = True
        self.stopping = asyncio.Event()
        self.applied = self.refused = self.annotations = 0

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            **self.settings.kafka.aiokafka(),
            group_id=self.group,
            client_id=f"{self.group}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.settings.fetch_wait_ms,
            session_timeout_ms=6_000,
            heartbeat_interval_ms=1_500,
            rebalance_timeout_ms=5_000,
        )
        consumer.subscribe([self.topics.claims], listener=_Reload(self))
        kafka = producer(self.settings.kafka, f"{self.group}-producer")
        await kafka.start()
        await consumer.start()
        try:
            while not self.stopping.is_set():
                try:
                    await self.step(consumer, kafka)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - nothing committed: it comes again
                    first_line = str(exc).split("\n", 1)[0][:300]
                    log.warning("claims: %s: %s; retrying in 2 s", type(exc).__name__, first_line)
                    self.reload_due = True
                    await _rewind(consumer)
                    await asyncio.sleep(2)
        finally:
            await consumer.stop()
            await kafka.stop()

    async def step(self, consumer: AIOKafkaConsumer, kafka) -> None:
        batches = await consumer.getmany(timeout_ms=200, max_records=2_000)
        loop = asyncio.get_running_loop()
        if self.reload_due:
            self.reload_due = False
            self.items = await loop.run_in_executor(None, self.load)
        if not batches:
            return
        rejects = self.take(batches)
        await loop.run_in_executor(None, self.writer.flush, self.writer.detach())
        if rejects:
            outbox = Outbox(self.settings.max_message_bytes)
            for reject in rejects:
                key = reject.event_id.encode() or None
                outbox.add(
                    self.topics.rejected,
                    partition_for(key or b"", self.settings.partitions),
                    key,
                    reject.raw,
                    rejected_headers(reject, reject.received_at),
                )
            await outbox.send(kafka)
        await consumer.commit({tp: msgs[-1].offset + 1 for tp, msgs in batches.items() if msgs})

    def load(self) -> dict[str, ClaimItem]:
        client = connect(self.settings.clickhouse)
        try:
            rows = latest_claims(client, self.settings.clickhouse.database)
        finally:
            client.disconnect()
        return {row["item_id"]: item_of(row) for row in rows}

    def take(self, batches) -> list[RejectIn]:
        """Applies the claim events of a fetched batch; rows go to the writer; the refusals."""
        now = datetime.now(UTC)
        rejects = []
        for messages in batches.values():
            for msg in messages:
                if not is_claim(msg.value, msg.headers):
                    continue
                try:
                    event = parse_event(
                        msg.value or b"", msg.headers or None, now=now, registry=self.registry
                    )
                except InvalidEvent:
                    continue  # the intake bridge rejects it, with its reason
                if isinstance(event.data, Annotation):
                    received = datetime.fromtimestamp(msg.timestamp / 1000, UTC)
                    self.writer.add("annotations", annotation_row(event, received))
                    self.annotations += 1
                    continue
                if event.type not in _TYPES or not isinstance(event.data, Claim):
                    continue
                step = step_of(event)
                outcome = apply(step, self.items.get(step.item_id))
                if outcome.refusal is not None:
                    self.refused += 1
                    received = datetime.fromtimestamp(msg.timestamp / 1000, UTC)
                    reject = RejectIn(
                        reject_id=reject_id_for(f"claim:{event.department}/{event.id}"),
                        received_at=received,
                        reason=outcome.refusal,
                        path="data.item_id",
                        raw=event.raw,
                        event_id=event.id,
                        source=event.source,
                        type=event.type,
                    )
                    self.writer.add("rejected_events", rejected_row(reject))
                    rejects.append(reject)
                elif outcome.item is not None and outcome.transition is not None:
                    self.applied += 1
                    self.items[step.item_id] = outcome.item
                    self.writer.add(
                        "claim_transitions",
                        transition_row(outcome.transition, outcome.item.district),
                    )
                    self.writer.add("claims", claim_row(outcome.item))
        return rejects


async def _rewind(consumer: AIOKafkaConsumer) -> None:
    """After a failed step: read again from the committed offsets (nothing past them is
    stored for sure); the items' states are read back from ClickHouse before the next step."""
    for tp in consumer.assignment():
        committed = await consumer.committed(tp)
        if committed is not None:
            consumer.seek(tp, committed)
        else:
            await consumer.seek_to_beginning(tp)


__all__ = ["ClaimsService", "is_claim", "item_key"]
