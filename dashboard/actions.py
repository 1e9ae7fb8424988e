"""Officer actions on an incident (acknowledge, note, urge 督办, escalate) as CloudEvents onto
`city.events`, like any department's event: the engine applies them and they appear in the
incident's timeline once processed.

acknowledge, note and urge are `city.incident.note.v1` with the action in `data.action` (and the
comment); escalate is `city.incident.escalate.v1`. The source is the officer's acting department
(dashboard/auth.py: a district officer acts as that district's dispatch desk). The publish waits for
the broker's acknowledgement, so a failure reaches the officer instead of being lost. Before
that, `officer_refusal` says whether this officer may act on this incident at all.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import msgspec

from cityops.schemas.binding import structured_bytes
from cityops.schemas.taxonomy import DEPARTMENTS
from cityops.settings import KafkaConnection, kafka_connection

ACTIONS = {
    "acknowledge": ("city.incident.note.v1", "已阅知", "acknowledged"),
    "note": ("city.incident.note.v1", "备注", "note"),
    "urge": ("city.incident.note.v1", "督办", "urged"),
    "escalate": ("city.incident.escalate.v1", "提级处置", "escalation requested"),
}


class PublishError(RuntimeError):
    pass


def officer_refusal(
    *, actor: str, scope: str | None, department: str, incident_district: str
) -> str | None:
    """Why an officer (`actor`, restricted to district `scope`, None: the whole city) may not act
    as `department` on an incident of `incident_district` (None: they may).

    An officer acts only in their district, under their own name, as a known department; a
    district's dispatch desk acts only for its own district (the engine checks that too).
    """
    if not actor:
        return "an action needs the officer's user name"
    if scope is not None and incident_district != scope:
        return f"the incident is in district {incident_district}, outside district {scope}"
    acting = DEPARTMENTS.get(department)
    if acting is None:
        return f"unknown acting department {department!r}"
    if acting.district is not None and acting.district != incident_district:
        return (
            f"{department} acts only for district {acting.district}, "
            f"the incident is in district {incident_district}"
        )
    return None


def action_event(
    action: str,
    *,
    incident_id: str,
    partitionkey: str,
    department: str,
    actor: str,
    comment: str,
    now: dt.datetime,
    event_id: str | None = None,
) -> tuple[str, bytes]:
    """(Kafka key, structured CloudEvent bytes) of one officer action."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    event_type, zh, en = ACTIONS[action]
    text = comment.strip() or f"{zh} / {en}"
    data = {
        "incident_id": incident_id,
        "department": department,
        "actor": actor,
        "comment": text[:2000],
        "action": action,
    }
    value = structured_bytes(
        id=event_id or str(uuid.uuid4()),
        source=f"/departments/{department}",
        type=event_type,
        time=now.astimezone(dt.UTC),
        data=msgspec.json.encode(data),
        subject=incident_id,
        partitionkey=partitionkey,
        datacontenttype="application/json",
    )
    return partitionkey, value


class Publisher:
    """One KafkaProducer per dashboard process, created on first use."""

    def __init__(self, bootstrap: KafkaConnection | str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self._producer = None
        self._lock = threading.Lock()

    def _get(self):
        with self._lock:
            if self._producer is None:
                from kafka import KafkaProducer

                self._producer = KafkaProducer(
                    **kafka_connection(self.bootstrap).kafka_python(),
                    acks="all",
                    retries=2,
                    request_timeout_ms=8000,
                    max_block_ms=8000,
                    client_id="cityops-dashboard",
                )
            return self._producer

    def publish(self, key: str, value: bytes, timeout: float = 10.0) -> None:
        try:
            future = self._get().send(self.topic, key=key.encode(), value=value)
            future.get(timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - every failure is reported to the officer
            raise PublishError(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=2)
                self._producer = None
