"""The incident engine between Faust and the decisions: applies a bundle's items with `step`, keeps
what changed in an overlay, and on `commit()` stores rows (ClickHouse), publishes messages
(Kafka), and only then writes the Faust tables and lets the caller ack the bundles. A crash at any
point re-delivers bundles whose effects are idempotent (docs/architecture.md).

Tables are reached through a small `Store` interface, so the same engine runs under Faust and in
tests over plain dicts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from cityops.schemas.topics import Topics
from cityops.storage.latest import restore_states_sql
from cityops.storage.writer import ClickHouseWriter
from cityops.streams.incidents import out, rows
from cityops.streams.incidents.alarms import is_alarm, sensor_match
from cityops.streams.incidents.logic import incident_id_for, partition_key_of, step
from cityops.streams.incidents.merge import merge_step, surviving
from cityops.streams.incidents.model import (
    ActionIn,
    Incident,
    Item,
    RejectIn,
    Rejection,
    ReportIn,
    TaskNotice,
    Tick,
)
from cityops.streams.incidents.policy import Policy, RepeatRule
from cityops.streams.incidents.repeat import (
    MAX_ENTRIES_PER_KEY,
    Candidate,
    candidate_of,
    cell_degrees,
    find_repeat,
    in_window,
    index_keys,
    kept,
    key_prefix,
    over_cap,
)
from cityops.streams.incidents.sla import next_due
from cityops.streams.incidents.timers import Timers
from cityops.streams.kafka import Outbox, partition_for, street_partitions

log = logging.getLogger(__name__)
RESTORED_KEY = "#restored/{partition}"


class Store(Protocol):
    """A partitioned key-value table the engine reads (the RocksDB-backed FaustStore, or a dict
    in tests and benchmarks); the engine writes through the Outbox, not through the store."""

    def get(self, key: str, default: Any = None, /) -> Any: ...

    # And either `items_of(partition)`, one partition's items, or `items()`, all of them
    # (see `_items_of`).


@dataclass
class Engine:
    incidents: Store
    repeats: Store
    writer: ClickHouseWriter
    topics: Topics
    partitions: int
    policy: Policy
    max_index_entries: int = MAX_ENTRIES_PER_KEY  # per repeat-index value
    _incidents: dict[str, tuple[int, Incident]] = field(default_factory=dict)
    # Repeat-index values being changed: incident id → candidate, updated in place (the table
    # keeps each value as a list; it is copied into a dict once per commit, not rebuilt per
    # change).
    _repeats: dict[str, tuple[int, dict[str, Candidate]]] = field(default_factory=dict)
    # The overlay of the commit in flight (handed over by `table_writes()`, stored in the
    # background while the next bundles apply): read after the overlay, before the tables,
    # until `landed()` says its values are in the tables.
    _flight_incidents: dict[str, tuple[int, Incident]] = field(default_factory=dict)
    _flight_repeats: dict[str, tuple[int, dict[str, Candidate]]] = field(default_factory=dict)
    _clock: dict[int, datetime] = field(default_factory=dict)
    _timers: Timers = field(default_factory=Timers)
    _loaded: set[int] = field(default_factory=set)
    outbox: Outbox = field(default_factory=Outbox)
    applied: int = 0
    rejected: int = 0
    # Names and partitions worked out once (every change publishes to them): topic names, and
    # the city.incidents partition of each street.
    _topic_incidents: str = field(init=False)
    _topic_tasks: dict[str, str] = field(init=False, default_factory=dict)
    _street_partition: Callable[[str], int] = field(init=False)

    def __post_init__(self) -> None:
        self._topic_incidents = self.topics.incidents
        self._street_partition = street_partitions(self.partitions)

    # -- reading through the overlay ----------------------------------------------------------
    def incident(self, incident_id: str) -> Incident | None:
        pending = self._incidents.get(incident_id) or self._flight_incidents.get(incident_id)
        return pending[1] if pending else self.incidents.get(incident_id)

    def bucket(self, key: str):
        """The candidates of one repeat-index value (`repeat.index_keys`), overlay first."""
        pending = self._repeats.get(key) or self._flight_repeats.get(key)
        if pending:
            return pending[1].values()
        return self.repeats.get(key) or ()

    def _lookup(self, keys: list[str]):
        if len(keys) == 1:
            return self.bucket(keys[0])
        return [c for key in keys for c in self.bucket(key)]

    def needs_restore(self, partition: int) -> bool:
        key = RESTORED_KEY.format(partition=partition)
        return (
            key not in self._repeats
            and key not in self._flight_repeats
            and self.repeats.get(key) is None
        )

    # -- applying a bundle --------------------------------------------------------------------
    def apply(self, partition: int, items: list[Item]) -> None:
        if partition not in self._loaded:
            self._load_partition(partition)
        for item in items:
            if isinstance(item, Tick):
                self._tick(partition, item.now)
            elif isinstance(item, ReportIn):
                self._report(partition, item)
            elif isinstance(item, ActionIn):
                self._action(partition, item)
            else:
                self._reject(partition, item)

    def _now(self, partition: int, at: datetime) -> datetime:
        clock = self._clock.get(partition)
        return at if clock is None or at > clock else clock

    def _report(self, partition: int, item: ReportIn) -> None:
        now = self._now(partition, item.at)
        # A redelivered report: the incident it opened exists (or, for a repeat, the incident it
        # was linked to lists its sender and id in `applied`, which `step` checks).
        incident_id = incident_id_for(item.department, item.id, item.chain, item.scope)
        if self.incident(incident_id) is not None:
            return
        prefix = key_prefix(item.scope_key, item.report.category)
        if is_alarm(item.report):  # a rule's alarm: its sensor's incident only, never by place
            window = self.policy.repeat_rule(item.report.category).days_after_close
            found = sensor_match(item.report, prefix, self._lookup, now, window)
        else:
            found = find_repeat(item.report, prefix, self._lookup, now, self.policy)
        current = surviving(self.incident(found.incident_id), self.incident) if found else None
        incident, transitions, emitted = step(current, item, now, self.policy)
        for refusal in (e for e in emitted if isinstance(e, Rejection)):
            self._reject(partition, rows.misfit_reject(item, refusal.reason, refusal.path))
        if incident is None or not transitions:
            return
        self.writer.add("events", rows.event_row(item, incident.id))
        self._changed(partition, incident, transitions, emitted, current)

    def _action(self, partition: int, item: ActionIn) -> None:
        now = self._now(partition, item.at)
        if item.verb == "merge":
            return self._merge(partition, item, now)
        current = self.incident(item.action.incident_id)
        incident, transitions, emitted = step(current, item, now, self.policy)
        for refusal in (e for e in emitted if isinstance(e, Rejection)):
            self._reject(partition, rows.misfit_reject(item, refusal.reason, refusal.path))
        if incident is None or not transitions:
            return
        self.writer.add("events", rows.action_event_row(item, incident))
        self._changed(partition, incident, transitions, emitted, current)

    def _merge(self, partition: int, item: ActionIn, now: datetime) -> None:
        """并单: two incidents of this partition's street change together (merge.py)."""
        current = self.incident(item.action.incident_id)
        into = self.incident(item.action.into or "") if item.action.into else None
        result = merge_step(current, into, item, now, self.policy)
        if isinstance(result, Rejection):
            self._reject(partition, rows.misfit_reject(item, result.reason, result.path))
            return
        if result is None or current is None or into is None:
            return  # a redelivery: it took effect once
        (merged, t_merged, e_merged), (kept, t_kept, e_kept) = result
        assert merged is not None and kept is not None
        self.writer.add("events", rows.action_event_row(item, merged))
        self._changed(partition, merged, t_merged, e_merged, current)
        self._changed(partition, kept, t_kept, e_kept, into)

    def _tick(self, partition: int, now: datetime) -> None:
        clock = self._clock.get(partition)
        if clock is not None and now <= clock:
            return
        self._clock[partition] = now
        limit = now.timestamp()
        # Until nothing is due: a change may arm a deadline that has already passed.
        while due := self._timers.pop_due(partition, limit):
            for incident_id in due:
                current = self.incident(incident_id)
                if current is None:
                    continue
                incident, transitions, emitted = step(current, Tick(now), now, self.policy)
                if transitions and incident is not None:  # else a stale timer entry
                    self._changed(partition, incident, transitions, emitted, current)

    def _reject(self, partition: int, item: RejectIn) -> None:
        self.rejected += 1
        self.writer.add("rejected_events", rows.rejected_row(item))
        key = (item.event_id or item.reject_id).encode()
        self.outbox.add(
            self.topics.rejected,
            partition_for(key, self.partitions),
            key,
            item.raw,
            out.rejected_headers(item, item.received_at),
        )

    def _changed(
        self, partition: int, incident: Incident, transitions, emitted, before: Incident | None
    ) -> None:
        self.applied += 1
        self._incidents[incident.id] = (partition, incident)
        add_row = self.writer.add
        add_row("incidents", rows.incident_row(incident))
        for transition in transitions:
            add_row("incident_transitions", rows.transition_row(transition))
        for row in rows.task_rows(incident, before):
            add_row("dept_tasks", row)
        street = incident.chain.key
        key = street.encode()
        self.outbox.add(
            self._topic_incidents,
            self._street_partition(street),
            key,
            out.incident_changed(incident, transitions),
        )
        notices = [notice for notice in emitted if isinstance(notice, TaskNotice)]
        if notices:
            key = incident.id.encode()
            task_partition = partition_for(key, self.partitions)
            for notice in notices:
                self.outbox.add(
                    self._tasks_topic(notice.department),
                    task_partition,
                    key,
                    out.task_message(incident, notice),
                )
        self._index(partition, incident)
        self._arm(partition, incident)

    def _tasks_topic(self, department: str) -> str:
        topic = self._topic_tasks.get(department)
        if topic is None:
            topic = self._topic_tasks[department] = self.topics.tasks(department)
        return topic

    def _index(self, partition: int, incident: Incident) -> None:
        """Puts the incident's candidate into each index value it belongs to, when changed."""
        entry = candidate_of(incident)
        rule = self.policy.repeat_rule(incident.category)
        prefix, cell = self._index_place(incident, rule)
        for key in index_keys(prefix, entry, cell):
            pending = self._repeats.get(key)
            if pending is not None:
                values = pending[1]
                if values.get(incident.id) == entry:
                    continue
                values.pop(incident.id, None)  # re-inserted last: a value keeps change order
            else:
                current = self.bucket(key)
                if any(c == entry for c in current):
                    continue  # most changes (accept, progress, …) leave the candidate as it was
                # First change of this value since the last commit: copy it from the commit in
                # flight or the table, without incidents closed longer than the repeat window.
                now = incident.updated_at or incident.reported_at
                values = kept(current, now, rule.days_after_close)
                values.pop(incident.id, None)
                self._repeats[key] = (partition, values)
            values[entry.incident_id] = entry
            if len(values) > self.max_index_entries:
                dropped = over_cap(values, self.max_index_entries)
                for incident_id in dropped:
                    del values[incident_id]
                log.warning(
                    "repeat index %s holds over %d incidents: dropped %s",
                    key,
                    self.max_index_entries,
                    ", ".join(dropped),
                )

    def _index_place(self, incident: Incident, rule: RepeatRule) -> tuple[str, float]:
        """`index_keys`' prefix and cell for an incident: the prefix of its own scope (the head
        of its id, so its index stays on its partition whatever the policy says now) and the
        cell of its category's radius."""
        scope = partition_key_of(incident.id) or incident.chain.key
        return key_prefix(scope, incident.category), cell_degrees(rule.radius_m)

    def _arm(self, partition: int, incident: Incident) -> None:
        due = next_due(incident)
        if due is not None:
            self._timers.arm(partition, due.timestamp(), incident.id)

    def _load_partition(self, partition: int) -> None:
        """After a start or rebalance: timers of every incident held for `partition`, and the
        repeat index made to agree with the incidents table.

        A SIGKILL in the middle of a commit's sends can leave the incidents changelog ahead of
        the repeats changelog (they are separate topics): an incident recovered without its
        index entry would let a later repeat report open a second incident. The incidents table
        is the truth; missing or stale index entries are rewritten from it.
        """
        self._timers.reset(partition)
        pending: dict[str, Incident] = {}
        for overlay in (self._flight_incidents, self._incidents):
            pending.update(
                (key, incident) for key, (p, incident) in overlay.items() if p == partition
            )
        # One stored incident at a time (a partition may hold hundreds of thousands). Keys start
        # with the street (or district), so its incidents come together: its buckets are read
        # once.
        indexed: dict[str, dict[str, Candidate]] = {}
        scope = None
        for key, incident in _items_of(self.incidents, partition, self.partition_of):
            if key in pending or not isinstance(incident, Incident):
                continue
            if partition_key_of(key) != scope:
                scope = partition_key_of(key)
                indexed.clear()
            self._reload(partition, incident, indexed)
        indexed.clear()
        for incident in pending.values():
            self._reload(partition, incident, indexed)
        self._loaded.add(partition)

    def _reload(self, partition: int, incident: Incident, indexed: dict) -> None:
        """Arms the incident's timer; rewrites its repeat-index entries if missing or stale."""
        self._arm(partition, incident)
        entry = candidate_of(incident)
        now = self._clock.get(partition) or incident.updated_at or incident.reported_at
        rule = self.policy.repeat_rule(incident.category)
        if not in_window(entry, now, rule.days_after_close):
            return
        prefix, cell = self._index_place(incident, rule)
        for key in index_keys(prefix, entry, cell):
            values = indexed.get(key)
            if values is None:
                values = indexed[key] = {c.incident_id: c for c in self.bucket(key)}
            if values.get(incident.id) != entry:
                self._index(partition, incident)
                return

    def partition_of(self, incident_id: str) -> int:
        return partition_for(partition_key_of(incident_id) or incident_id, self.partitions)

    def forget_timers(self) -> None:
        """After a rebalance: rebuild timers (and check the index) on the next bundle."""
        self._timers.clear()
        self._loaded.clear()

    # -- recovery from ClickHouse -------------------------------------------------------------
    def restore(self, partition: int, snapshots: Iterable[Incident]) -> int:
        """Installs snapshots of this partition that the table lacks (or holds older)."""
        installed = 0
        for incident in snapshots:
            if self.partition_of(incident.id) != partition:
                continue
            current = self.incident(incident.id)
            if current is not None and current.version >= incident.version:
                continue
            self._incidents[incident.id] = (partition, incident)
            self._index(partition, incident)
            self._arm(partition, incident)
            installed += 1
        self._repeats[RESTORED_KEY.format(partition=partition)] = (partition, {})
        return installed

    # -- commit -------------------------------------------------------------------------------
    def table_writes(self) -> tuple[dict[int, list], dict[int, list]]:
        """The overlay per partition, (incidents, repeats), for the caller to store.

        The overlay becomes the commit in flight: reads still see it until `landed()`, so the
        caller may store it in the background while further bundles apply into a fresh
        overlay. One commit is in flight at a time: the caller calls `landed()` (or has
        installed the values) before the next `table_writes()`.
        """
        incidents: dict[int, list] = {}
        for key, (partition, value) in self._incidents.items():
            incidents.setdefault(partition, []).append((key, value))
        repeats: dict[int, list] = {}
        for key, (partition, bucket) in self._repeats.items():
            repeats.setdefault(partition, []).append((key, list(bucket.values())))
        self._flight_incidents, self._incidents = self._incidents, {}
        self._flight_repeats, self._repeats = self._repeats, {}
        return incidents, repeats

    def landed(self) -> None:
        """The commit in flight is in the tables: stop reading it separately."""
        self._flight_incidents = {}
        self._flight_repeats = {}


def _items_of(store: Store, partition: int, partition_of) -> Iterable[tuple[str, object]]:
    """A store's (key, value) pairs of one partition: its own `items_of` (the RocksDB store
    reads only that partition), else all items filtered (plain dicts in tests)."""
    items_of = getattr(store, "items_of", None)
    if items_of is not None:
        return items_of(partition)
    every = store.items()  # type: ignore[attr-defined]  # a plain dict (see Store)
    return [(key, value) for key, value in list(every) if partition_of(key) == partition]


def restore_query(database: str) -> str:
    """Latest snapshot of every incident still open, or closed within the repeat window."""
    return restore_states_sql(database)


def restore_since(now: datetime, policy: Policy) -> datetime:
    return now - timedelta(days=policy.longest_repeat_days)
