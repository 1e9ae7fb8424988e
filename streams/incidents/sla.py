"""SLA deadlines and the escalation rule, the way 12345 centres set them: emergencies in clock
hours, ordinary matters in working days on China's calendar. Pure: time is passed in.

Rules: each deadline's escalation fires once (remembered in `incident.fired`); a deadline that was
met (accepted, resolved in time) never fires; deadlines are computed once when set, so a later
policy change does not move them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cityops.streams.incidents.calendar import add_working_days
from cityops.streams.incidents.model import Incident
from cityops.streams.incidents.policy import Duration, Policy


def due_after(start: datetime, duration: Duration) -> datetime:
    if duration.working_days:
        return add_working_days(start, duration.amount)
    return start + timedelta(seconds=duration.seconds())


def deadlines(
    start: datetime, category: str, kind: str, severity: int, policy: Policy
) -> tuple[datetime, datetime]:
    """(accept_due, resolve_due) for a matter reported (or reopened) at `start`."""
    accept, resolve = policy.sla_for(category, kind).for_severity(severity)
    accept_due = due_after(start, accept)
    resolve_due = due_after(start, resolve)
    return accept_due, max(accept_due, resolve_due)


def fired_key(name: str, due: datetime) -> str:
    return f"{name}@{int(due.timestamp())}"


def pending_deadlines(incident: Incident) -> list[tuple[str, datetime]]:
    """The deadlines still able to fire, as (name, due): accept, resolve, close, callback."""
    out: list[tuple[str, datetime]] = []
    status = incident.status
    if incident.sla_paused:  # a return waits for the desk: the clock stands still
        pass
    elif status in ("dispatched", "reported", "reopened"):
        out.append(("accept", incident.accept_due))
        out.append(("resolve", incident.resolve_due))
    elif status in ("accepted", "in_progress"):
        out.append(("resolve", incident.resolve_due))
    if status == "resolved":
        if incident.close_due is not None:
            out.append(("close", incident.close_due))
        if incident.callback_due is not None and incident.callback == "pending":
            out.append(("callback", incident.callback_due))
    if not incident.fired:
        return out
    return [(name, due) for name, due in out if fired_key(name, due) not in incident.fired]


def due_escalations(incident: Incident, now: datetime) -> list[tuple[str, datetime]]:
    """The deadlines that passed by `now` and have not fired yet, earliest first."""
    return sorted(
        ((name, due) for name, due in pending_deadlines(incident) if due <= now),
        key=lambda item: item[1],
    )


def next_due(incident: Incident) -> datetime | None:
    """When this incident's timer should next be looked at (None: nothing pending)."""
    pending = pending_deadlines(incident)
    return min(due for _, due in pending) if pending else None
