"""The department SDK: validate a CloudEvent against the contract, fill what a department may leave
out, and send it to city.events with acks from all in-sync replicas. The first step of the flow
(departments → city.events); `cityops publish`, the gateway, the simulator and the dashboard's
officer actions all send through it.

It lives beside the settings (it needs only the contract in cityops.schemas and the Kafka
connection in cityops.settings), below both streams/ and dashboard/, so that every publisher of the
platform shares one contract: validated exactly like a department's event, or not sent.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from cityops.schemas.binding import format_time
from cityops.schemas.event_types import ANNOTATION_TYPE, CONTENT_TYPE, SOURCE_PREFIX, SPECVERSION
from cityops.schemas.events import (
    READING_TYPE,
    REPORT_TYPE,
    Event,
    InvalidEvent,
    parse_event,
    partition_key,
    to_binary,
)
from cityops.schemas.registry import Registry, load_registry
from cityops.schemas.taxonomy import DEPARTMENTS
from cityops.schemas.topics import Topics
from cityops.settings import KafkaConnection, kafka_connection

log = logging.getLogger(__name__)

ErrorCallback = Callable[[str, BaseException], None]

# Batching measured on the 2-core test machines (docs/publishing.md): gzip shrinks the repetitive
# JSON enough that it is faster than no compression even on loopback (~2x with kafka-python).
DEFAULT_PRODUCER = {
    "acks": "all",
    "enable_idempotence": True,  # broker-side dedup of the producer's own retries
    "retries": 2_147_483_647,
    "max_in_flight_requests_per_connection": 5,
    # 50 ms: ~12 reports per batch per partition at 2,000/s instead of ~5; every batch is one
    # more object the embedded broker lists per fetch (docs/performance.md P16, M-27)
    "linger_ms": 50,
    "batch_size": 512 * 1024,
    "compression_type": "gzip",
    "request_timeout_ms": 10_000,
    "delivery_timeout_ms": 30_000,
    "max_block_ms": 10_000,
}


class PublishError(RuntimeError):
    """An event that was not delivered; `event_id` is the id to retry with (it is the idempotency
    key, so a retry that reaches the broker twice is still one event downstream)."""

    def __init__(self, event_id: str, reason: str) -> None:
        super().__init__(f"event {event_id} was not delivered: {reason}")
        self.event_id = event_id
        self.reason = reason
        # every id of a batch of failures reported at once (`Publisher.flush`, `close`)
        self.failed_ids = [event_id]


@dataclass
class Delivery:
    """One event handed to the producer: its id, the validated event, and the broker's answer."""

    event_id: str
    event: Event
    future: Future

    def wait(self, timeout: float | None = None) -> str:
        try:
            self.future.result(timeout)
        except Exception as exc:  # noqa: BLE001 - kafka errors of every kind end here
            raise PublishError(self.event_id, _describe(exc)) from exc
        return self.event_id


def now_utc() -> datetime:
    return datetime.now(UTC)


def complete(event: Mapping[str, Any], department: str | None, *, now: datetime) -> dict[str, Any]:
    """A copy of `event` with the envelope filled: specversion, id, time, source, datacontenttype
    and partitionkey (the street code). Pure; nothing is validated here."""
    doc = dict(event)
    doc.setdefault("specversion", SPECVERSION)
    if not doc.get("id"):
        doc["id"] = str(uuid.uuid4())
    if doc.get("time") is None:
        doc["time"] = format_time(now)
    elif isinstance(doc["time"], datetime):
        doc["time"] = format_time(doc["time"])
    if department is not None:
        source = f"{SOURCE_PREFIX}{department}"
        if doc.get("source") is None:
            doc["source"] = source
        elif doc["source"] != source:
            raise InvalidEvent("source", f'must be "{source}" for a publisher of {department}')
    doc.setdefault("datacontenttype", CONTENT_TYPE)
    data = doc.get("data")
    if "partitionkey" not in doc and isinstance(data, dict):
        key = _street_key(doc.get("type"), data)
        if key:
            doc["partitionkey"] = key
    return doc


def _street_key(event_type: Any, data: dict) -> str | None:
    """A report's street (else district) code; for an action, the street code its incident id
    starts with (incident ids are "<street code>-<digest>"), so both land on one partition. An
    annotation's key is its district, or "city" for the whole city."""
    if event_type == ANNOTATION_TYPE:
        district = data.get("district")
        return district if isinstance(district, str) and district else "city"
    if event_type in (REPORT_TYPE, READING_TYPE):
        location = data.get("location")
        if isinstance(location, dict):
            key = location.get("street") or location.get("district")
            return key if isinstance(key, str) else None
        return None
    incident_id = data.get("incident_id")
    if isinstance(incident_id, str):
        head, sep, _ = incident_id.partition("-")
        if sep and head.isdigit():
            return head
    return None


def encode(doc: Mapping[str, Any]) -> bytes:
    try:
        return orjson.dumps(doc)
    except TypeError as exc:
        raise InvalidEvent("$", f"not JSON-serialisable: {exc}") from None


def validated(
    event: Mapping[str, Any],
    department: str | None,
    *,
    now: datetime,
    registry: Registry | None = None,
) -> Event:
    """The event as the platform will read it, with the envelope filled (`complete`) for a
    publisher of `department` (None: the event names its own source); InvalidEvent names the
    field and what is wrong. Pure apart from the registry; nothing is sent."""
    value = encode(complete(event, department, now=now))
    return parse_event(value, now=now, registry=registry or load_registry())


class Publisher:
    """Publishes one department's events (or, with department=None, events that carry their own
    source) to city.events. Thread-safe; use as a context manager so it flushes on close.

    Delivery is asynchronous: `publish` returns the event id once the event is validated and
    queued. A delivery failure calls `on_error(event_id, exc)` when given; otherwise it is raised
    as PublishError from the next `publish`, `flush` or `close`. `submit` returns a Delivery to
    wait on (the gateway answers only after the broker acknowledged).
    """

    def __init__(
        self,
        settings_or_bootstrap: Any,
        department: str | None,
        *,
        topic: str | None = None,
        binary: bool = False,
        on_error: ErrorCallback | None = None,
        registry: Registry | None = None,
        clock: Callable[[], datetime] = now_utc,
        producer: Any = None,
        **producer_config: Any,
    ) -> None:
        if department is not None and department not in DEPARTMENTS:
            raise ValueError(f"unknown department {department!r}")
        if isinstance(settings_or_bootstrap, str | KafkaConnection):
            kafka, prefix = kafka_connection(settings_or_bootstrap), ""
        else:
            kafka = settings_or_bootstrap.kafka
            prefix = settings_or_bootstrap.topic_prefix
        self.department = department
        self.topic = topic or Topics(prefix).events
        self.binary = binary
        self.on_error = on_error
        self.registry = registry or load_registry()
        self.clock = clock
        self._failures: list[PublishError] = []
        self._lock = threading.Lock()
        self._closed = False
        self._make: Callable[[], Any] | None = None
        self._stale = False  # the broker forgot this producer: make a new one before sending
        if producer is None:
            from kafka import KafkaProducer

            config = {**DEFAULT_PRODUCER, **producer_config}
            config.setdefault("client_id", f"cityops-sdk-{department or 'any'}")
            self._make = lambda: KafkaProducer(**kafka.kafka_python(), **config)
            producer = self._make()
        self._producer = producer

    # -- validation -------------------------------------------------------------------------
    def validate(self, event: Mapping[str, Any]) -> Event:
        """The event as the platform will read it, with the envelope filled; InvalidEvent names
        the field and what is wrong. Nothing is sent."""
        return validated(event, self.department, now=self.clock(), registry=self.registry)

    # -- sending ----------------------------------------------------------------------------
    def submit(self, event: Mapping[str, Any] | Event) -> Delivery:
        """Validates and queues one event; the Delivery's future completes on the broker's ack.
        The caller owns the outcome: a failure is raised by `Delivery.wait`, not reported again
        through on_error or flush."""
        parsed = event if isinstance(event, Event) else self.validate(event)
        return self._send(parsed, watched=True)

    def publish(self, event: Mapping[str, Any] | Event, *, wait: bool = False) -> str:
        """Validates and sends one event; returns its id. `wait=True` blocks for the ack and
        raises PublishError on failure."""
        self._raise_failures()
        parsed = event if isinstance(event, Event) else self.validate(event)
        delivery = self._send(parsed, watched=wait)
        if wait:
            # The producer gives up after delivery_timeout_ms; a little slack on top.
            timeout = self._producer.config.get("delivery_timeout_ms", 30_000) / 1000 + 5
            return delivery.wait(timeout)
        return delivery.event_id

    def _send(self, event: Event, *, watched: bool) -> Delivery:
        if self._stale:
            self._renew()
        key = partition_key(event).encode()
        if self.binary:
            headers, value = to_binary(event)
        else:
            headers, value = [], event.raw
        kafka_future = self._producer.send(self.topic, value=value, key=key, headers=headers)
        future: Future = Future()
        event_id = event.id

        def ok(metadata: Any) -> None:
            future.set_result(metadata)

        def failed(exc: BaseException) -> None:
            if forgotten_producer(exc):
                self._stale = True
            future.set_exception(exc)
            if not watched:
                self._failed(event_id, exc)

        kafka_future.add_callback(ok)
        kafka_future.add_errback(failed)
        return Delivery(event_id, event, future)

    def _renew(self) -> None:
        """A new producer (new producer id) after the broker lost the old one's state: a
        restarted in-memory broker answers the old producer's every send and its id renewal with
        an error, for ever. Events that failed were reported; their senders retry, same ids."""
        if self._make is None:
            return
        with self._lock:
            if not self._stale:
                return
            old, self._producer, self._stale = self._producer, self._make(), False
        log.warning("the broker lost this producer's state; continuing with a new producer")
        threading.Thread(target=old.close, args=(0,), daemon=True).start()

    def _failed(self, event_id: str, exc: BaseException) -> None:
        if self.on_error is not None:
            self.on_error(event_id, exc)
            return
        with self._lock:
            self._failures.append(PublishError(event_id, _describe(exc)))

    def _raise_failures(self) -> None:
        if not self._failures:
            return
        with self._lock:
            failures, self._failures = self._failures, []
        first = failures[0]
        if len(failures) > 1:
            first.args = (f"{first.args[0]} (and {len(failures) - 1} more)",)
        first.failed_ids = [f.event_id for f in failures]
        raise first

    def flush(self, timeout: float | None = None) -> None:
        """Blocks until every queued event is acknowledged or failed; raises the first failure."""
        self._producer.flush(timeout)
        self._raise_failures()

    def close(self, timeout: float | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._producer.flush(timeout)
        finally:
            self._producer.close(timeout)
        self._raise_failures()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # do not hide the original error behind a delivery failure
            try:
                self.close()
            except PublishError:
                pass


def forgotten_producer(exc: BaseException) -> bool:
    """The broker no longer knows the idempotent producer (it restarted without its state)."""
    from kafka.errors import OutOfOrderSequenceNumberError, UnknownProducerIdError

    if isinstance(exc, UnknownProducerIdError | OutOfOrderSequenceNumberError):
        return True
    return "InitProducerId" in str(exc)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


# -- builders -------------------------------------------------------------------------------
def report(
    *,
    category: str,
    severity: int,
    title: str,
    location: Mapping[str, Any],
    channel: str = "department",
    description: str | None = None,
    external_ref: str | None = None,
    reporter_hash: str | None = None,
    sensor: Mapping[str, Any] | None = None,
    id: str | None = None,  # noqa: A002 - the CloudEvents attribute
    time: datetime | str | None = None,
    subject: str | None = None,
) -> dict[str, Any]:
    """A city.report.v1 event as a dict, ready for Publisher.publish."""
    data: dict[str, Any] = {
        "channel": channel,
        "category": category,
        "severity": severity,
        "title": title,
        "location": dict(location),
    }
    for name, value in (
        ("description", description),
        ("external_ref", external_ref),
        ("reporter_hash", reporter_hash),
    ):
        if value is not None:
            data[name] = value
    if sensor is not None:
        data["sensor"] = dict(sensor)
    return _envelope(REPORT_TYPE, data, id=id, time=time, subject=subject)


def action(
    kind: str,
    incident_id: str,
    *,
    department: str,
    actor: str | None = None,
    comment: str | None = None,
    departments: list[str] | None = None,
    satisfied: bool | None = None,
    id: str | None = None,  # noqa: A002
    time: datetime | str | None = None,
    partitionkey: str | None = None,
    resolved: bool | None = None,
    reason: str | None = None,
    to_department: str | None = None,
    into: str | None = None,
) -> dict[str, Any]:
    """A city.incident.<kind>.v1 event (kind: accept, progress, resolve, escalate, assist,
    feedback, note, return, reassign, merge) about one incident."""
    data: dict[str, Any] = {"incident_id": incident_id, "department": department}
    for name, value in (
        ("actor", actor),
        ("comment", comment),
        ("departments", departments),
        ("satisfied", satisfied),
        ("resolved", resolved),
        ("reason", reason),
        ("to_department", to_department),
        ("into", into),
    ):
        if value is not None:
            data[name] = value
    doc = _envelope(f"city.incident.{kind}.v1", data, id=id, time=time, subject=incident_id)
    if partitionkey is not None:
        doc["partitionkey"] = partitionkey
    return doc


def annotation(
    *,
    start: datetime | str,
    end: datetime | str,
    label: str,
    kind: str,
    district: str | None = None,
    actor: str | None = None,
    id: str | None = None,  # noqa: A002
    time: datetime | str | None = None,
) -> dict[str, Any]:
    """A city.annotation.v1 event: a warning period (kind: weather_alert, public_event, works,
    emergency, other) for the whole city, or one district, shading the wall's time series."""
    data: dict[str, Any] = {
        "start": format_time(start) if isinstance(start, datetime) else start,
        "end": format_time(end) if isinstance(end, datetime) else end,
        "label": label,
        "kind": kind,
    }
    for name, value in (("district", district), ("actor", actor)):
        if value is not None:
            data[name] = value
    return _envelope(ANNOTATION_TYPE, data, id=id, time=time, subject=None)


def _envelope(
    event_type: str,
    data: dict[str, Any],
    *,
    id: str | None,  # noqa: A002
    time: datetime | str | None,
    subject: str | None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": event_type, "data": data}
    if id is not None:
        doc["id"] = id
    if time is not None:
        doc["time"] = format_time(time) if isinstance(time, datetime) else time
    if subject is not None:
        doc["subject"] = subject
    return doc
