"""并单 (merge, CONTRACT §11): a district's dispatch desk merges a duplicate incident into another
(`city.incident.merge.v1`: `incident_id` is merged `into`). Pure, like the rest of the lifecycle;
the engine (engine.py `_merge`) reads both incidents and stores both outcomes.

- The merged incident closes: transition `merged` (to `closed`, reason "merged into <into>"), its
  handling and callback tasks released, a waiting return dropped, `merged_into` set.
- The surviving incident takes over its reports: `repeat_count` grows by the merged incident's
  reports (its opening report and its repeats), their ids join `repeat_ids`, and the opening
  department and channel of each join `merged_callers`, so that the callback at resolution
  (loop.callback_for) also covers a reporter who came in on a callback channel. Transition
  `merged_from` (status unchanged, reason "<id> merged in (n reports)").
- A later report that repeats a merged duplicate (its place, its category) links to the survivor
  (`surviving`), never reopening the duplicate.
- Refused (to rejected_events / city.events.rejected, with the reason): a sender that is not the
  dispatch desk of both incidents' district (authz.py and here), merging into itself, an unknown
  incident, a merged incident that is not open, a target that is not open (closed, resolved,
  merged), different categories (a merge joins reports of one problem; a report filed under
  another category is a different matter — the desk corrects the category first by other means),
  and incidents of two streets: actions are routed to the street partition their incident id
  names (streams/intake.py), so only there are both incidents' states at hand, atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cityops.schemas.checks import quote
from cityops.streams.incidents import loop
from cityops.streams.incidents.authz import authorize
from cityops.streams.incidents.logic import partition_key_of
from cityops.streams.incidents.model import (
    MAX_REPEAT_IDS,
    OPEN_STATUSES,
    ActionIn,
    Emitted,
    Incident,
    Rejection,
    Transition,
    event_key,
    was_applied,
)
from cityops.streams.incidents.moves import Outcome, change, move, notice
from cityops.streams.incidents.policy import Policy

MAX_MERGED = 50  # ids and callers remembered per surviving incident (bounded like repeat_ids)
MAX_HOPS = 8  # merges followed from a duplicate to its survivor


def merge_refusal(
    inc: Incident | None, into: Incident | None, item: ActionIn, policy: Policy
) -> Rejection | None:
    """Why `item` may not merge `inc` into `into` (None: it may). The ids first (nothing to read
    for them), then who sends it, then the two incidents' states."""
    incident_id, into_id = item.action.incident_id, item.action.into or ""
    if into_id == incident_id:
        return Rejection(item.id, f"cannot merge {incident_id} into itself", "data.into")
    if inc is None:
        return Rejection(item.id, f"unknown incident {incident_id!r}")
    refusal = authorize(item, inc, policy)
    if refusal:
        return Rejection(item.id, refusal, "data.department")
    street, other = partition_key_of(incident_id), partition_key_of(into_id)
    if into is None and other and other[:6] != inc.chain.district:
        into_district = other[:6]
    elif into is not None and into.chain.district != inc.chain.district:
        into_district = into.chain.district
    else:
        into_district = ""
    if into_district:
        return Rejection(
            item.id,
            f"{quote(item.department)} acts only on incidents of district {inc.chain.district}; "
            f"{into_id} is in district {into_district}",
            "data.into",
        )
    if street != other:
        return Rejection(
            item.id,
            f"merge across streets: {incident_id} is in {street or '?'}, {into_id} in "
            f"{other or '?'}; only incidents of one street are merged",
            "data.into",
        )
    if into is None:
        return Rejection(item.id, f"unknown incident {into_id!r}", "data.into")
    return _state_refusal(inc, into, item)


def _state_refusal(inc: Incident, into: Incident, item: ActionIn) -> Rejection | None:
    if inc.merged_into:
        return Rejection(item.id, f"{inc.id} was already merged into {inc.merged_into}")
    if inc.status not in OPEN_STATUSES:
        return Rejection(item.id, f"merge of a {inc.status} incident")
    if into.merged_into:
        reason = f"merge into {into.id}, which was merged into {into.merged_into}"
        return Rejection(item.id, reason, "data.into")
    if into.status not in OPEN_STATUSES:
        return Rejection(item.id, f"merge into a {into.status} incident {into.id}", "data.into")
    if inc.category != into.category:
        reason = f"merge of different categories: {inc.category} into {into.category}"
        return Rejection(item.id, reason, "data.into")
    return None


def merge_step(
    inc: Incident | None, into: Incident | None, item: ActionIn, now: datetime, policy: Policy
) -> tuple[Outcome, Outcome] | Rejection | None:
    """Both outcomes (the merged incident's, the surviving one's), a Rejection, or None for a
    redelivered merge (it took effect once already)."""
    if inc is not None and was_applied(inc, item.department, item.id):
        return None
    refusal = merge_refusal(inc, into, item, policy)
    if refusal is not None:
        return refusal
    assert inc is not None and into is not None  # merge_refusal checked both
    key = event_key(item.department, item.id)
    merged = change(inc, key, now, lambda a, out: [_close(a, into.id, item, now, out)])
    kept = change(into, key, now, lambda b, out: [_absorb(b, inc, item, now)])
    return merged, kept


def _close(inc: Incident, into_id: str, item: ActionIn, now: datetime, out: list[Emitted]):
    action = item.action
    for task in inc.tasks:
        if task.status not in ("done", "released"):
            task.status, task.done_at = "released", now
            out.append(notice(inc, task, "released", now, f"merged into {into_id}"))
    loop.drop_callback(inc, now)
    inc.returned_by, inc.return_reason, inc.disputed_since, inc.sla_paused = "", "", None, False
    inc.merged_into, inc.closed_at = into_id, now
    reason = f"merged into {into_id} {action.comment or ''}".strip()
    actor = action.actor or ""
    return move(inc, "merged", "closed", now, item.id, action.department, actor, reason)


def surviving(inc: Incident | None, lookup: Callable[[str], Incident | None]) -> Incident | None:
    """The incident a report meant for `inc` goes to: `inc`, or, when it was merged, the one it
    was merged into (followed along a chain of merges, at most MAX_HOPS; `lookup` reads an
    incident by id). A repeat report of a merged duplicate's place links to the survivor instead
    of reopening the duplicate."""
    for _ in range(MAX_HOPS):
        if inc is None or not inc.merged_into:
            return inc
        target = lookup(inc.merged_into)
        if target is None:  # not at hand (never expected: merges stay in one street)
            return inc
        inc = target
    return inc


def reports_of(inc: Incident) -> int:
    """The reports an incident stands for: its opening report and its repeats."""
    return 1 + inc.repeat_count


def _absorb(into: Incident, inc: Incident, item: ActionIn, now: datetime) -> Transition:
    action = item.action
    into.repeat_count += reports_of(inc)
    into.repeat_ids = (into.repeat_ids + [inc.opened_by, *inc.repeat_ids])[-MAX_REPEAT_IDS:]
    into.merged_from = (into.merged_from + [inc.id])[-MAX_MERGED:]
    callers = [*into.merged_callers, (inc.opened_by_department, inc.channel), *inc.merged_callers]
    pairs = [(str(c[0]), str(c[1])) for c in callers]  # decoded states hold them as lists
    into.merged_callers = list(dict.fromkeys(pairs))[-MAX_MERGED:]
    reason = f"{inc.id} merged in ({reports_of(inc)} reports) {action.comment or ''}".strip()
    actor = action.actor or ""
    return move(into, "merged_from", into.status, now, item.id, action.department, actor, reason)
