"""Who may do an action: a department acts only in its own name (`data.department` = the
department of `source`, CONTRACT §8), a citizen's answer comes only from a citizen-facing
department, joint handling is asked for only by a department on the incident, a task is returned
only by its lead, reassigned and merged (并单) only by a dispatch desk, and a district's dispatch
desk acts only in its district (for a merge: the district of both incidents, merge.py). Pure;
`step` (logic.py) asks before `refusal_of`, and the gateway asks `sender_refusal` before
publishing.
"""

from __future__ import annotations

from cityops.schemas.checks import quote, sender_mismatch
from cityops.schemas.taxonomy import DEPARTMENTS
from cityops.streams.incidents.model import ActionIn, Incident
from cityops.streams.incidents.policy import Policy


def sender_refusal(sender: str, claimed: str) -> str | None:
    """Why an action that names `claimed` in data.department may not come from `sender` (the
    department of its source, or of the gateway key). None: it acts in its own name. The
    validator refuses the same (schemas/checks.py); the engine asks again for any path."""
    mismatch = sender_mismatch(sender, claimed)
    return f"data.department {mismatch}" if mismatch else None


def authorize(item: ActionIn, incident: Incident, policy: Policy) -> str | None:
    """Why the sender of `item` may not do it on `incident` (None: it may)."""
    sender, verb = item.department, item.verb
    refusal = sender_refusal(sender, item.action.department)
    if refusal:
        return refusal
    if verb == "feedback":
        if sender in policy.citizen_facing:
            return None
        allowed = ", ".join(policy.citizen_facing) or "none configured"
        return f"feedback only from a citizen-facing department ({allowed}), not {quote(sender)}"
    desk = DEPARTMENTS.get(sender)
    district = desk.district if desk is not None else None
    if district is not None and district != incident.chain.district:
        return (
            f"{quote(sender)} acts only on incidents of district {district}; "
            f"{incident.id} is in district {incident.chain.district}"
        )
    if verb == "return":
        task = incident.task(sender)
        if sender != incident.lead_department or task is None or task.status == "released":
            return (
                f"return only by the lead department of {incident.id} "
                f"({quote(incident.lead_department)}), not {quote(sender)}"
            )
    if verb in ("reassign", "merge") and district is None:
        own = f"desk_{incident.chain.district}"
        return f"{verb} only by the dispatch desk ({quote(own)}), not {quote(sender)}"
    if verb == "assist":
        task = incident.task(sender)
        if task is None or task.status == "released":
            return f"assist requested by {quote(sender)}, which is not on incident {incident.id}"
    return None
