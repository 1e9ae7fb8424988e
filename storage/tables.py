"""The columns of the tables the engine writes, in the order the writer inserts them: one declared
definition per table, `(name, ClickHouse type)` pairs.

The shipped migrations (storage/ddl.py) stay literal, frozen text; these tuples are what they
created, checked by tests: against the migrations' text (tests/unit/storage/test_schema_drift.py)
and against the columns of a migrated server (tests/integration/test_storage_migrations.py).
A later schema change is a new migration and an edit here together; `create_table()` writes the
CREATE TABLE text of a new table in the migrations' layout, to be pasted into that migration as
literal text (a migration's text must never depend on these tuples, which may change later).
"""

from __future__ import annotations

Column = tuple[str, str]

EVENTS: tuple[Column, ...] = (
    ("id", "String"),
    ("type", "String"),
    ("source", "String"),
    ("department", "String"),
    ("time", "DateTime"),
    ("received_at", "DateTime"),
    ("district", "String"),
    ("street", "String"),
    ("community", "String"),
    ("grid", "String"),
    ("micro_grid", "String"),
    ("category", "String"),
    ("severity", "UInt8"),
    ("channel", "String"),
    ("title", "String"),
    ("incident_id", "String"),
    ("payload", "String"),
)

INCIDENTS: tuple[Column, ...] = (
    ("incident_id", "String"),
    ("status", "String"),
    ("level", "String"),
    ("unit_code", "String"),
    ("owner_unit", "String"),
    ("district", "String"),
    ("street", "String"),
    ("community", "String"),
    ("grid", "String"),
    ("micro_grid", "String"),
    ("category", "String"),
    ("severity", "UInt8"),
    ("title", "String"),
    ("lead_department", "String"),
    ("departments", "Array(String)"),
    ("joint", "UInt8"),
    ("reported_at", "DateTime"),
    ("accepted_at", "Nullable(DateTime)"),
    ("resolved_at", "Nullable(DateTime)"),
    ("closed_at", "Nullable(DateTime)"),
    ("accept_due", "DateTime"),
    ("resolve_due", "DateTime"),
    ("escalations", "UInt16"),
    ("breaches", "UInt16"),
    ("repeat_count", "UInt32"),
    ("reopened", "UInt16"),
    ("satisfied", "Nullable(UInt8)"),
    ("lat", "Float64"),
    ("lon", "Float64"),
    ("version", "UInt32"),
    ("updated_at", "DateTime"),
    ("state", "String"),
    # migration 6
    ("returns", "UInt16"),
    ("supervision", "String"),
    ("callback", "String"),
    ("unsolved", "UInt16"),
    # migration 11 (并单): the incident this one was merged into; '' for every other incident
    ("merged_into", "String"),
)

INCIDENT_TRANSITIONS: tuple[Column, ...] = (
    ("incident_id", "String"),
    ("seq", "UInt32"),
    ("at", "DateTime"),
    ("kind", "String"),
    ("from_status", "String"),
    ("to_status", "String"),
    ("level", "String"),
    ("unit_code", "String"),
    ("department", "String"),
    ("actor", "String"),
    ("reason", "String"),
    ("event_id", "String"),
)

DEPT_TASKS: tuple[Column, ...] = (
    ("incident_id", "String"),
    ("department", "String"),
    ("role", "String"),
    ("status", "String"),
    ("assigned_at", "DateTime"),
    ("accepted_at", "Nullable(DateTime)"),
    ("done_at", "Nullable(DateTime)"),
    ("version", "UInt32"),
    ("updated_at", "DateTime"),
)

REJECTED_EVENTS: tuple[Column, ...] = (
    ("reject_id", "String"),
    ("received_at", "DateTime"),
    ("reason", "String"),
    ("path", "String"),
    ("event_id", "String"),
    ("source", "String"),
    ("type", "String"),
    ("raw", "String"),
)

# Written by the notifier (streams/notify/), not by the engine's writer.
NOTIFICATIONS: tuple[Column, ...] = (
    ("incident_id", "String"),
    ("notification_id", "String"),
    ("trigger", "String"),
    ("target", "String"),
    ("kind", "String"),
    ("attempt", "UInt16"),
    ("at", "DateTime"),
    ("status", "String"),
    ("http_status", "UInt16"),
    ("error", "String"),
)

READINGS: tuple[Column, ...] = (
    ("sensor_id", "String"),
    ("time", "DateTime"),
    ("metric", "String"),
    ("department", "String"),
    ("value", "Float32"),
    ("unit", "String"),
    ("district", "String"),
    ("street", "String"),
    ("micro_grid", "String"),
    ("received_at", "DateTime"),
)

FEED_STATES: tuple[Column, ...] = (
    ("department", "String"),
    ("silent", "UInt8"),
    ("silent_since", "Nullable(DateTime)"),
    ("last_seen", "DateTime"),
    ("version", "UInt64"),
    ("updated_at", "DateTime"),
)

# Resident-unit claims (docs/claims.md): one row per change of an item; the latest per item_id by
# `version` is its state. `seen` keeps the event ids applied (a redelivery is applied once).
CLAIMS: tuple[Column, ...] = (
    ("item_id", "String"),
    ("community", "String"),
    ("street", "String"),
    ("district", "String"),
    ("category", "String"),
    ("title", "String"),
    ("description", "String"),
    ("status", "String"),
    ("unit_id", "String"),
    ("percent", "UInt8"),
    ("sent_back", "UInt16"),
    ("published_at", "DateTime"),
    ("claimed_at", "Nullable(DateTime)"),
    ("done_at", "Nullable(DateTime)"),
    ("confirmed_at", "Nullable(DateTime)"),
    ("seen", "Array(String)"),
    ("version", "UInt64"),
    ("updated_at", "DateTime"),
)

CLAIM_TRANSITIONS: tuple[Column, ...] = (
    ("item_id", "String"),
    ("seq", "UInt32"),
    ("at", "DateTime"),
    ("event_id", "String"),
    ("verb", "String"),
    ("from_status", "String"),
    ("to_status", "String"),
    ("actor", "String"),
    ("comment", "String"),
    ("district", "String"),
)

# Warning periods shading the wall's time series (migration 10, CONTRACT §7 city.annotation.v1);
# written by the dashboard (storage/annotations.py) and by the claims consumer for the annotations
# departments publish (streams/claims/service.py).
ANNOTATIONS: tuple[Column, ...] = (
    ("id", "String"),
    ("department", "String"),
    ("actor", "String"),
    ("kind", "String"),
    ("label", "String"),
    ("district", "String"),
    ("start", "DateTime"),
    ("end", "DateTime"),
    ("created_at", "DateTime"),
)

# {table: its columns}, for the tables the writer inserts into.
WRITTEN: dict[str, tuple[Column, ...]] = {
    "readings": READINGS,
    "feed_states": FEED_STATES,
    "events": EVENTS,
    "incidents": INCIDENTS,
    "incident_transitions": INCIDENT_TRANSITIONS,
    "dept_tasks": DEPT_TASKS,
    "rejected_events": REJECTED_EVENTS,
    "claims": CLAIMS,
    "claim_transitions": CLAIM_TRANSITIONS,
    "annotations": ANNOTATIONS,
}


def column_names(table: str) -> tuple[str, ...]:
    return tuple(name for name, _ in WRITTEN[table])


def create_table(table: str, columns: tuple[Column, ...], engine: str) -> str:
    """The CREATE TABLE statement of a new table in the migrations' layout (`{db}` left for
    `migrate()`); `engine` is everything after `ENGINE = `, e.g. "ReplacingMergeTree()\\nORDER BY
    id". For writing a new migration: paste the result into it as literal text."""
    body = ",\n".join(f"    {name} {kind}" for name, kind in columns)
    return f"\nCREATE TABLE IF NOT EXISTS {{db}}.{table} (\n{body}\n) ENGINE = {engine}\n"
