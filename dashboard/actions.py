"""Officer actions on an incident (acknowledge, note, urge 督办, escalate) as CloudEvents onto
`city.events`, like any department's event: the engine applies them and they appear in the
incident's timeline once processed.

acknowledge, note and urge are `city.incident.note.v1` with the action in `data.action` (and the
comment); escalate is `city.incident.escalate.v1`. The source is the officer's acting department
(dashboard/auth.py: a district officer acts as that district's dispatch desk). They are built with
the department SDK's builder and sent through its Publisher (cityops/sdk.py), so an action is
validated exactly like a department's event: an invalid one is refused (InvalidEvent, with the
field and the reason for the officer) and nothing is sent. The publish waits for the broker's
acknowledgement, so a failure reaches the officer instead of being lost. Before all that,
`officer_refusal` says whether this officer may act on this incident at all.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from cityops import sdk
from cityops.dashboard.auth import CITY_DEPARTMENT
from cityops.schemas.events import Event, InvalidEvent
from cityops.schemas.registry import Registry
from cityops.schemas.taxonomy import DEPARTMENTS
from cityops.sdk import PublishError
from cityops.settings import KafkaConnection

__all__ = [
    "ACTIONS",
    "ActionPublisher",
    "InvalidEvent",
    "PublishError",
    "action_event",
    "officer_refusal",
    "merge_event",
    "review_department",
    "review_event",
]

# The dashboard's producer: an officer waits for the answer, so it fails within seconds instead
# of the SDK's default half minute of retries; no batching delay for one event at a time.
PRODUCER = {
    "client_id": "cityops-dashboard",
    "linger_ms": 0,
    "request_timeout_ms": 8_000,
    "delivery_timeout_ms": 10_000,
    "max_block_ms": 8_000,
    "bootstrap_timeout_ms": 8_000,  # no broker: the officer hears within 8 s, not 30
}

ACTIONS = {
    "acknowledge": ("city.incident.note.v1", "已阅知", "acknowledged"),
    "note": ("city.incident.note.v1", "备注", "note"),
    "urge": ("city.incident.note.v1", "督办", "urged"),
    "escalate": ("city.incident.escalate.v1", "提级处置", "escalation requested"),
}


def officer_refusal(
    *,
    actor: str,
    scope: str | None,
    department: str,
    incident_district: str,
    incident_street: str = "",
) -> str | None:
    """Why an officer (`actor`, restricted to district or street `scope`, None: the whole city)
    may not act as `department` on an incident of `incident_district` / `incident_street`
    (None: they may).

    An officer acts only in their district, under their own name, as a known department; a
    district's dispatch desk acts only for its own district (the engine checks that too).
    """
    if not actor:
        return "an action needs the officer's user name"
    if scope is not None and len(scope) == 9 and incident_street != scope:
        return f"the incident is in street {incident_street or '?'}, outside street {scope}"
    if scope is not None and len(scope) != 9 and incident_district != scope:
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
) -> dict[str, Any]:
    """The CloudEvent of one officer action, as a department builds it with the SDK (not yet
    validated: `ActionPublisher.publish` does that)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    event_type, zh, en = ACTIONS[action]
    kind = event_type.split(".")[2]  # city.incident.<kind>.v1
    doc = sdk.action(
        kind,
        incident_id,
        department=department,
        actor=actor,
        comment=comment.strip() or f"{zh} / {en}",
        id=event_id,
        time=now,
        partitionkey=partitionkey,
    )
    doc["data"]["action"] = action
    doc["source"] = f"/departments/{department}"
    return doc


# -- 退单审核 (return review): the desk's decision on a returned task --------------------------
def review_department(acting: str, scope: str | None, incident_district: str) -> str | None:
    """The department a return decision is published as (None: this officer may not decide
    one): a district officer acts as their district's dispatch desk; a city-wide officer decides
    for the incident's district desk. An officer acting as a handling department may not."""
    desk = f"desk_{incident_district}"
    if acting == desk:
        return desk
    if scope is None and (acting == CITY_DEPARTMENT or acting.startswith("desk_")):
        return desk if desk in DEPARTMENTS else None
    return None


def review_event(
    *,
    incident_id: str,
    partitionkey: str,
    department: str,
    actor: str,
    to_department: str,
    comment: str,
    now: dt.datetime,
    upheld: bool,
    event_id: str | None = None,
) -> dict[str, Any]:
    """city.incident.reassign.v1: `to_department` = the current lead upholds it (维持)."""
    default = "维持原承办部门 / return not upheld" if upheld else "改派 / reassigned"
    doc = sdk.action(
        "reassign",
        incident_id,
        department=department,
        actor=actor,
        comment=comment.strip() or default,
        to_department=to_department,
        id=event_id,
        time=now,
        partitionkey=partitionkey,
    )
    doc["source"] = f"/departments/{department}"
    return doc


# -- 并单 (merge): the desk merges a duplicate into another incident ------------------------------
def merge_event(
    *,
    incident_id: str,
    into: str,
    partitionkey: str,
    department: str,
    actor: str,
    comment: str,
    now: dt.datetime,
    event_id: str | None = None,
) -> dict[str, Any]:
    """city.incident.merge.v1: `incident_id` closes, merged `into` the other incident."""
    doc = sdk.action(
        "merge",
        incident_id,
        department=department,
        actor=actor,
        comment=comment.strip() or f"并单 / merged into {into}",
        into=into,
        id=event_id,
        time=now,
        partitionkey=partitionkey,
    )
    doc["source"] = f"/departments/{department}"
    return doc


class ActionPublisher:
    """The officer actions of one dashboard process, sent through the SDK's Publisher, which is
    created on first use (the dashboard starts and shows the wall without a broker)."""

    def __init__(
        self,
        kafka: KafkaConnection | str,
        topic: str,
        *,
        registry: Registry | None = None,
        clock: Callable[[], dt.datetime] = sdk.now_utc,
        **sdk_options: Any,
    ) -> None:
        self.kafka, self.topic, self.registry, self.clock = kafka, topic, registry, clock
        self.sdk_options = {**PRODUCER, **sdk_options}
        self._publisher: sdk.Publisher | None = None
        self._lock = threading.Lock()

    def validate(self, doc: dict[str, Any]) -> Event:
        """The action as the engine will read it; InvalidEvent when the contract refuses it.
        The source is the acting department the event names (department=None)."""
        return sdk.validated(doc, None, now=self.clock(), registry=self.registry)

    def _get(self) -> sdk.Publisher:
        with self._lock:
            if self._publisher is None:
                self._publisher = sdk.Publisher(
                    self.kafka,
                    None,
                    topic=self.topic,
                    registry=self.registry,
                    clock=self.clock,
                    **self.sdk_options,
                )
            return self._publisher

    def publish(self, doc: dict[str, Any]) -> str:
        """Validates, sends and waits for the broker's acknowledgement; the event id. Raises
        InvalidEvent (refused, nothing sent) or PublishError (not delivered)."""
        event = self.validate(doc)
        try:
            publisher = self._get()
        except Exception as exc:  # noqa: BLE001 - no producer (broker unreachable): the officer hears
            raise PublishError(event.id, f"{type(exc).__name__}: {exc}") from exc
        return publisher.publish(event, wait=True)

    def close(self) -> None:
        with self._lock:
            if self._publisher is not None:
                publisher, self._publisher = self._publisher, None
                publisher.close(timeout=2)
