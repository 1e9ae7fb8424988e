"""ClickHouse rows of the engine's facts (CONTRACT §5), one builder per table. Each row is a tuple
in its table's declared column order (storage/tables.py); the writer inserts the tuples column-wise
(storage/writer.py). Kafka messages of the same facts: streams/incidents/out.py.

The long String columns `events.payload` and `incidents.state` carry UTF-8 bytes: clickhouse-driver
writes bytes to a String column as they are and encodes only str, so nothing is decoded here to
be encoded again there (a unit test checks the driver writes both alike). A valid event's bytes
were checked to be UTF-8 by the validator (schemas/events.py); a reject's may be anything, so
`rejected_events.raw` stays decoded, with replacement characters.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec

from cityops.storage.tables import column_names
from cityops.streams.incidents.model import ActionIn, Incident, RejectIn, ReportIn, Transition

_state = msgspec.json.Encoder()
_state_decoder = msgspec.json.Decoder(Incident)


def encode_state(incident: Incident) -> bytes:
    return _state.encode(incident)


def decode_state(state: bytes | str) -> Incident:
    return _state_decoder.decode(state)


# The last moment converted, with its Unix seconds: the rows of one change carry the step's `now`
# several times over (updated_at, each transition, each task), the same object each time.
# A module-level memo on purpose (measured: ~75 ns per hit against ~245 ns to convert): it holds
# the moment itself and compares by identity, never by id(), so it cannot mistake another object
# for it; it is one tuple replaced in one assignment, so a reader never pairs one moment with
# another's seconds, even across threads; a miss only converts again.
_last_ts: tuple[datetime | None, int] = (None, 0)


def _ts(moment: datetime) -> int:
    """Unix seconds: the driver stores ints as they are (no per-value timezone conversion)."""
    global _last_ts
    last = _last_ts
    if last[0] is moment:  # the same object: datetimes are immutable
        return last[1]
    seconds = int(moment.timestamp())
    _last_ts = (moment, seconds)
    return seconds


def _ts_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else _ts(moment)


def as_dict(table: str, row: tuple) -> dict:
    """A row by column name (for tests and debugging)."""
    return dict(zip(column_names(table), row, strict=True))


# Every builder returns a tuple in its table's column order (storage/tables.py, checked by a unit
# test): the writer inserts column-wise without per-row dict lookups.
def event_row(item: ReportIn | ActionIn, incident_id: str) -> tuple:
    if isinstance(item, ReportIn):
        report, chain = item.report, item.chain
        return (
            item.id,
            "city.report.v1",
            f"/departments/{item.department}",
            item.department,
            _ts(item.time or item.at),
            _ts(item.received_at),
            chain.district,
            chain.street,
            chain.community,
            chain.grid,
            chain.micro_grid,
            report.category,
            report.severity,
            report.channel,
            report.title,
            incident_id,
            item.raw,
        )
    return _action_row(item, incident_id, "", "", "", "", "", "", 0)


def _action_row(item: ActionIn, incident_id: str, *place) -> tuple:
    """`place`: district, street, community, grid, micro_grid, category, severity."""
    return (
        item.id,
        f"city.incident.{item.verb}.v1",
        f"/departments/{item.department}",
        item.action.department,
        _ts(item.time or item.at),
        _ts(item.received_at),
        *place,
        "",
        "",
        incident_id,
        item.raw,
    )


def action_event_row(item: ActionIn, incident: Incident) -> tuple:
    return _action_row(item, incident.id, *_place(incident))


def _place(incident: Incident) -> tuple:
    """The columns district … micro_grid, category, severity (same order in both tables)."""
    chain = incident.chain
    return (
        chain.district,
        chain.street,
        chain.community,
        chain.grid,
        chain.micro_grid,
        incident.category,
        incident.severity,
    )


def incident_row(incident: Incident) -> tuple:
    return (
        incident.id,
        incident.status,
        incident.level,
        incident.unit_code,
        incident.owner_unit,
        *_place(incident),
        incident.title,
        incident.lead_department,
        [t.department for t in incident.tasks],
        # joint: an assisting task (a lead released by reassignment is none)
        int(len(incident.tasks) > 1 and any(t.role == "assist" for t in incident.tasks)),
        _ts(incident.reported_at),
        _ts_or_none(incident.accepted_at),
        _ts_or_none(incident.resolved_at),
        _ts_or_none(incident.closed_at),
        _ts(incident.accept_due),
        _ts(incident.resolve_due),
        incident.escalations,
        incident.breaches,
        incident.repeat_count,
        incident.reopened,
        None if incident.satisfied is None else int(incident.satisfied),
        incident.lat if incident.lat is not None else 0.0,
        incident.lon if incident.lon is not None else 0.0,
        incident.version,
        _ts(incident.updated_at or incident.reported_at),
        _state.encode(incident),  # UTF-8 JSON
        incident.returns,
        incident.supervision,
        incident.callback,
        incident.unsolved,
        incident.merged_into,
    )


def transition_row(t: Transition) -> tuple:
    return (
        t.incident_id,
        t.seq,
        _ts(t.at),
        t.kind,
        t.from_status,
        t.to_status,
        t.level,
        t.unit_code,
        t.department,
        t.actor,
        t.reason,
        t.event_id,
    )


def task_rows(incident: Incident, before: Incident | None = None) -> list[tuple]:
    """A row per task that is new or changed since `before` (the incident's previous version):
    readers take each task's latest version (`argMax(…, version)`), so an unchanged task needs
    no new row."""
    version = incident.version
    updated = incident.updated_at
    unchanged = before.tasks if before is not None else ()
    tasks = incident.tasks
    callback = incident.callback_task
    if callback is not None and (before is None or callback != before.callback_task):
        tasks = [*tasks, callback]
    return [
        (
            incident.id,
            task.department,
            task.role,
            task.status,
            _ts(task.assigned_at),
            _ts_or_none(task.accepted_at),
            _ts_or_none(task.done_at),
            version,
            _ts(updated or task.assigned_at),
        )
        for task in tasks
        if task not in unchanged
    ]


def rejected_row(item: RejectIn) -> tuple:
    return (
        item.reject_id,
        _ts(item.received_at),
        item.reason,
        item.path,
        item.event_id,
        item.source,
        item.type,
        item.raw.decode("utf-8", "replace"),
    )


def misfit_reject(
    item: ActionIn | ReportIn, reason: str, path: str = "data.incident_id"
) -> RejectIn:
    """A lifecycle event refused by the engine, stored like the validator's rejects (one row
    per sender and id: another department's event with the same id is another reject)."""
    verb = item.verb if isinstance(item, ActionIn) else "report"
    event_type = "city.report.v1" if verb == "report" else f"city.incident.{verb}.v1"
    return RejectIn(
        reject_id=reject_id_for(f"event:{item.department}/{item.id}"),
        received_at=item.received_at,
        reason=reason,
        path=path if verb != "report" or path.startswith("data.sensor") else "data",
        raw=item.raw,
        event_id=item.id,
        source=f"/departments/{item.department}",
        type=event_type,
    )


def reject_id_for(identity: str) -> str:
    """Deterministic, so a redelivered reject collapses into one row (uniqExact(reject_id))."""
    return hashlib.blake2b(identity.encode(), digest_size=10).hexdigest()
