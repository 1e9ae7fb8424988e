"""Which incident updates notify whom (docs/notifications.md). Pure.

Input: the `data` of one `city.incident.changed.v1` message on city.incidents (streams/incidents/
out.py): the incident's state after the change and the transitions of that change. Output: one
Notification per (occurrence of a trigger, target) that wants it.

A notification's id is `<incident_id>:<trigger>:<occurrence>`: the same update delivered twice
(at-least-once) gives the same ids, so the notifier sends each (id, target) once. The occurrence
tells later, distinct events of one trigger apart: the level reached for `escalated` (levels only
rise), the deadline's transition number for `breached`, the supervision level for `supervised`,
`open` for the triggers that fire when an incident opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cityops.streams.notify.config import Target

EXTREME_SEVERITY = 4
FEED_SILENT_CATEGORY = "feed_silent"


@dataclass(frozen=True)
class Notification:
    id: str  # <incident_id>:<trigger>:<occurrence>
    incident_id: str
    trigger: str
    target: str  # the target's name, never its url


def occurrences(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(trigger, occurrence) pairs of one incident update, in the order they happened."""
    transitions = data.get("transitions") or []
    kinds = [t.get("kind", "") for t in transitions] or list(data.get("kinds") or [])
    found: list[tuple[str, str]] = []
    opened = "opened" in kinds
    if opened and _is_extreme(data.get("severity")):
        found.append(("extreme", "open"))
    if opened and data.get("category") == FEED_SILENT_CATEGORY:
        found.append(("feed_silent", "open"))
    if opened and data.get("rule"):
        # Incidents opened by a sensor rule ([[rule]], CONTRACT §13) carry its name in `rule`.
        found.append(("rule", "open"))
    for t in transitions:
        kind = t.get("kind")
        if kind == "escalated":
            found.append(("escalated", str(t.get("level") or data.get("level") or "")))
        elif kind == "sla_breached":
            found.append(("breached", str(t.get("seq", ""))))
        elif kind == "supervised":
            found.append(("supervised", str(data.get("supervision") or t.get("level") or "")))
    supervision = data.get("supervision")
    if supervision and ("supervised", supervision) not in found:
        # The state says a Party secretary supervises it (CONTRACT §11): once per level.
        found.append(("supervised", str(supervision)))
    return list(dict.fromkeys(found))


def notifications(data: dict[str, Any], targets: list[Target]) -> list[Notification]:
    incident_id = str(data.get("incident_id", ""))
    if not incident_id:
        return []
    district = str(data.get("district", ""))
    return [
        Notification(f"{incident_id}:{trigger}:{occurrence}", incident_id, trigger, target.name)
        for trigger, occurrence in occurrences(data)
        for target in targets
        if target.wants(trigger, district)
    ]


def _is_extreme(severity: Any) -> bool:
    if isinstance(severity, str):
        return severity == "extreme" or (severity.isdigit() and int(severity) >= EXTREME_SEVERITY)
    return isinstance(severity, int) and severity >= EXTREME_SEVERITY
