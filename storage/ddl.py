"""ClickHouse schema of cityops as ordered, versioned migrations.

Storage sits between the stream processors (which write) and the dashboard (which reads).
Every statement runs on ClickHouse 18.16 and on current ClickHouse: no LowCardinality,
DateTime64, JSONExtract, window functions or TTL. Tables are ReplacingMergeTree keyed by the
natural identity of a row, so a redelivered batch leaves duplicates that merges remove and
that every documented query removes at read time (argMax by version, uniqExact by id).

A shipped migration is frozen: a database that applied it never runs it again, so its text is
written out literally (no statement built from another's text or from shared constants) and
pinned by a hash (tests/unit/storage/test_migrations_frozen.py). A schema change is a new
migration appended to MIGRATIONS; for a change to a table the writer fills, update its declared
columns in storage/tables.py too (a unit test compares them with the migrations).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS {db}.schema_version (
    version UInt32,
    description String,
    applied_at DateTime
) ENGINE = MergeTree ORDER BY version
"""

_EVENTS = """
CREATE TABLE IF NOT EXISTS {db}.events (
    id String,
    type String,
    source String,
    department String,
    time DateTime,
    received_at DateTime,
    district String,
    street String,
    community String,
    grid String,
    micro_grid String,
    category String,
    severity UInt8,
    channel String,
    title String,
    incident_id String,
    payload String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (toStartOfHour(time), id)
"""

_INCIDENTS = """
CREATE TABLE IF NOT EXISTS {db}.incidents (
    incident_id String,
    status String,
    level String,
    unit_code String,
    owner_unit String,
    district String,
    street String,
    community String,
    grid String,
    micro_grid String,
    category String,
    severity UInt8,
    title String,
    lead_department String,
    departments Array(String),
    joint UInt8,
    reported_at DateTime,
    accepted_at Nullable(DateTime),
    resolved_at Nullable(DateTime),
    closed_at Nullable(DateTime),
    accept_due DateTime,
    resolve_due DateTime,
    escalations UInt16,
    breaches UInt16,
    repeat_count UInt32,
    reopened UInt16,
    satisfied Nullable(UInt8),
    lat Float64,
    lon Float64,
    version UInt32,
    updated_at DateTime,
    state String
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(reported_at)
ORDER BY (district, incident_id)
"""

_TRANSITIONS = """
CREATE TABLE IF NOT EXISTS {db}.incident_transitions (
    incident_id String,
    seq UInt32,
    at DateTime,
    kind String,
    from_status String,
    to_status String,
    level String,
    unit_code String,
    department String,
    actor String,
    reason String,
    event_id String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(at)
ORDER BY (incident_id, seq)
"""

_DEPT_TASKS = """
CREATE TABLE IF NOT EXISTS {db}.dept_tasks (
    incident_id String,
    department String,
    role String,
    status String,
    assigned_at DateTime,
    accepted_at Nullable(DateTime),
    done_at Nullable(DateTime),
    version UInt32,
    updated_at DateTime
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(assigned_at)
ORDER BY (incident_id, department)
"""

_REJECTED = """
CREATE TABLE IF NOT EXISTS {db}.rejected_events (
    reject_id String,
    received_at DateTime,
    reason String,
    path String,
    event_id String,
    source String,
    type String,
    raw String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(received_at)
ORDER BY (received_at, reject_id)
"""

# Latest state of every incident: the one definition the dashboard and outside tools share.
_V_INCIDENTS_CURRENT = """
CREATE VIEW IF NOT EXISTS {db}.incidents_current AS
SELECT
    incident_id,
    argMax(status, _v) AS status,
    argMax(level, _v) AS level,
    argMax(unit_code, _v) AS unit_code,
    argMax(owner_unit, _v) AS owner_unit,
    argMax(district, _v) AS district,
    argMax(street, _v) AS street,
    argMax(community, _v) AS community,
    argMax(grid, _v) AS grid,
    argMax(micro_grid, _v) AS micro_grid,
    argMax(category, _v) AS category,
    argMax(severity, _v) AS severity,
    argMax(title, _v) AS title,
    argMax(lead_department, _v) AS lead_department,
    argMax(departments, _v) AS departments,
    argMax(joint, _v) AS joint,
    argMax(reported_at, _v) AS reported_at,
    argMax(accepted_at, _v) AS accepted_at,
    argMax(resolved_at, _v) AS resolved_at,
    argMax(closed_at, _v) AS closed_at,
    argMax(accept_due, _v) AS accept_due,
    argMax(resolve_due, _v) AS resolve_due,
    argMax(escalations, _v) AS escalations,
    argMax(breaches, _v) AS breaches,
    argMax(repeat_count, _v) AS repeat_count,
    argMax(reopened, _v) AS reopened,
    argMax(satisfied, _v) AS satisfied,
    argMax(lat, _v) AS lat,
    argMax(lon, _v) AS lon,
    max(_v) AS version,
    max(updated_at) AS updated_at
FROM (SELECT *, version AS _v FROM {db}.incidents)
GROUP BY incident_id
"""

# The centre's measures (办结率, 实际解决率, repeat, escalation, level shares), defined once.
# closure_rate: closed / all; resolution_rate: closed, never reopened and not reported
# unsatisfied / all closed-or-resolved; repeat_rate: incidents with repeat reports / all.
_V_MEASURES = """
CREATE VIEW IF NOT EXISTS {db}.measures AS
SELECT
    count() AS incidents,
    countIf(status = 'closed') AS closed,
    countIf(status IN ('resolved', 'closed')) AS resolved_or_closed,
    countIf(status = 'closed' AND reopened = 0 AND ifNull(satisfied, 1) = 1) AS actually_resolved,
    countIf(repeat_count > 0) AS with_repeats,
    countIf(escalations > 0) AS escalated,
    countIf(status IN ('resolved', 'closed') AND level IN ('grid', 'micro_grid')) AS resolved_at_grid,
    countIf(status IN ('resolved', 'closed') AND level = 'community') AS resolved_at_community,
    countIf(status IN ('resolved', 'closed') AND level = 'street') AS resolved_at_street,
    if(incidents = 0, 0, closed / incidents) AS closure_rate,
    if(resolved_or_closed = 0, 0, actually_resolved / resolved_or_closed) AS resolution_rate,
    if(incidents = 0, 0, with_repeats / incidents) AS repeat_rate,
    if(incidents = 0, 0, escalated / incidents) AS escalation_rate,
    if(resolved_or_closed = 0, 0,
       (resolved_at_grid + resolved_at_community + resolved_at_street) / resolved_or_closed)
        AS street_or_below_share
FROM {db}.incidents_current
"""

# The incident rows again, ordered by when they were written, for readers that only want what
# changed recently (the dashboard's latest-state cache reads `updated_at >= watermark`, a primary
# key range here, instead of a granule-wide scan of `incidents`). Fed by a materialized view;
# the migration copies the last two days, which is all its reader needs. Daily partitions so an
# operator can drop old days (18.16 has no TTL): `ALTER TABLE incident_changes DROP PARTITION`.
_INCIDENT_CHANGES = """
CREATE TABLE IF NOT EXISTS {db}.incident_changes (
    incident_id String,
    status String,
    level String,
    unit_code String,
    district String,
    street String,
    category String,
    severity UInt8,
    title String,
    lead_department String,
    departments Array(String),
    joint UInt8,
    reported_at DateTime,
    accept_due DateTime,
    resolve_due DateTime,
    escalations UInt16,
    breaches UInt16,
    repeat_count UInt32,
    reopened UInt16,
    satisfied Nullable(UInt8),
    lat Float64,
    lon Float64,
    version UInt32,
    updated_at DateTime
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(updated_at)
ORDER BY (updated_at, incident_id)
"""
_MV_INCIDENT_CHANGES = (
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.incident_changes_mv TO {db}.incident_changes AS "
    "SELECT incident_id, status, level, unit_code, district, street, category, severity,\n"
    "    title, lead_department, departments, joint, reported_at, accept_due, resolve_due, "
    "escalations,\n"
    "    breaches, repeat_count, reopened, satisfied, lat, lon, version, updated_at "
    "FROM {db}.incidents"
)
_BACKFILL_INCIDENT_CHANGES = (
    "INSERT INTO {db}.incident_changes (incident_id, status, level, unit_code, district, street, "
    "category, severity,\n"
    "    title, lead_department, departments, joint, reported_at, accept_due, resolve_due, "
    "escalations,\n"
    "    breaches, repeat_count, reopened, satisfied, lat, lon, version, updated_at) "
    "SELECT incident_id, status, level, unit_code, district, street, category, severity,\n"
    "    title, lead_department, departments, joint, reported_at, accept_due, resolve_due, "
    "escalations,\n"
    "    breaches, repeat_count, reopened, satisfied, lat, lon, version, updated_at "
    "FROM {db}.incidents WHERE updated_at >= now() - INTERVAL 2 DAY"
)

# Rows inserted into `events` per hour of event time (migration 4). The dashboard caches
# per-hour event counts for closed hours and recounts an hour only when its number of inserted
# rows changed: an insert-side count never goes down when merges drop duplicates, so it is a
# reliable "this hour got new rows" signal, read in microseconds instead of scanning events.
_EVENT_HOURS = """
CREATE TABLE IF NOT EXISTS {db}.event_hours (
    hour DateTime,
    rows UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY hour
"""
_MV_EVENT_HOURS = (
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.event_hours_mv TO {db}.event_hours AS "
    "SELECT toStartOfHour(time) AS hour, count() AS rows FROM {db}.events GROUP BY hour"
)
_BACKFILL_EVENT_HOURS = (
    "INSERT INTO {db}.event_hours (hour, rows) "
    "SELECT toStartOfHour(time) AS hour, count() AS rows FROM {db}.events GROUP BY hour"
)
# Incident transitions again, ordered by time (migration 4), so the wall's transitions feed
# reads a key range instead of every transition (`incident_transitions` is keyed by incident).
# Daily partitions; drop old days as for incident_changes.
_TRANSITIONS_BY_TIME = """
CREATE TABLE IF NOT EXISTS {db}.transitions_by_time (
    incident_id String,
    seq UInt32,
    at DateTime,
    kind String,
    from_status String,
    to_status String,
    level String,
    department String,
    reason String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(at)
ORDER BY (at, incident_id, seq)
"""
_MV_TRANSITIONS_BY_TIME = (
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.transitions_by_time_mv "
    "TO {db}.transitions_by_time AS SELECT incident_id, seq, at, kind, from_status, to_status, "
    "level, department, reason FROM {db}.incident_transitions"
)
_BACKFILL_TRANSITIONS_BY_TIME = (
    "INSERT INTO {db}.transitions_by_time (incident_id, seq, at, kind, from_status, to_status, "
    "level, department, reason) SELECT incident_id, seq, at, kind, from_status, to_status, level, "
    "department, reason FROM {db}.incident_transitions WHERE at >= now() - INTERVAL 2 DAY"
)

# The incident rows again, ordered by report time (migration 5), for the drill-down search:
# the cache (or SQL) picks a page of incidents by report time, and their latest rows are then a
# primary-key range here instead of granules of every part of `incidents` (keyed by district
# and id: at 1M incidents, 25 rows by id read ~5 ms each, by report time ~5 ms together). A
# title, street or category filter scans only its range's few columns here as well. Report
# time is fixed at opening, so ReplacingMergeTree(version) keeps one row per incident.
# The same columns as incident_changes, keyed by report time.
_INCIDENTS_BY_REPORT = """
CREATE TABLE IF NOT EXISTS {db}.incidents_by_report (
    incident_id String,
    status String,
    level String,
    unit_code String,
    district String,
    street String,
    category String,
    severity UInt8,
    title String,
    lead_department String,
    departments Array(String),
    joint UInt8,
    reported_at DateTime,
    accept_due DateTime,
    resolve_due DateTime,
    escalations UInt16,
    breaches UInt16,
    repeat_count UInt32,
    reopened UInt16,
    satisfied Nullable(UInt8),
    lat Float64,
    lon Float64,
    version UInt32,
    updated_at DateTime
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(reported_at)
ORDER BY (reported_at, incident_id)
"""
_MV_INCIDENTS_BY_REPORT = (
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.incidents_by_report_mv "
    "TO {db}.incidents_by_report AS "
    "SELECT incident_id, status, level, unit_code, district, street, category, severity,\n"
    "    title, lead_department, departments, joint, reported_at, accept_due, resolve_due, "
    "escalations,\n"
    "    breaches, repeat_count, reopened, satisfied, lat, lon, version, updated_at "
    "FROM {db}.incidents"
)
_BACKFILL_INCIDENTS_BY_REPORT = (
    "INSERT INTO {db}.incidents_by_report (incident_id, status, level, unit_code, district, "
    "street, category, severity,\n"
    "    title, lead_department, departments, joint, reported_at, accept_due, resolve_due, "
    "escalations,\n"
    "    breaches, repeat_count, reopened, satisfied, lat, lon, version, updated_at) "
    "SELECT incident_id, status, level, unit_code, district, street, category, severity,\n"
    "    title, lead_department, departments, joint, reported_at, accept_due, resolve_due, "
    "escalations,\n"
    "    breaches, repeat_count, reopened, satisfied, lat, lon, version, updated_at "
    "FROM {db}.incidents"
)
# The events of each incident by incident id (migration 5): the incident page reads the ids and
# times of its raw events by primary key here, then the events themselves by theirs (hour, id),
# instead of scanning every event since the report for its incident_id.
_INCIDENT_EVENT_IDS = """
CREATE TABLE IF NOT EXISTS {db}.incident_event_ids (
    incident_id String,
    time DateTime,
    id String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (incident_id, time, id)
"""
_MV_INCIDENT_EVENT_IDS = (
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.incident_event_ids_mv "
    "TO {db}.incident_event_ids AS SELECT incident_id, time, id FROM {db}.events "
    "WHERE incident_id != ''"
)
_BACKFILL_INCIDENT_EVENT_IDS = (
    "INSERT INTO {db}.incident_event_ids (incident_id, time, id) "
    "SELECT incident_id, time, id FROM {db}.events WHERE incident_id != ''"
)

# Closing the loop (migration 6, CONTRACT §11): per incident the returns (退单) counted, the
# supervising level ('' until set), the callback's state ('' none | pending | overdue | solved |
# unsolved) and the callbacks answered "not solved". Added at the end of `incidents`.
# One statement, so the four columns arrive together (18.16 has no ADD COLUMN IF NOT EXISTS).
_INCIDENTS_LOOP_COLUMNS = (
    "ALTER TABLE {db}.incidents "
    "ADD COLUMN returns UInt16 DEFAULT 0, "
    "ADD COLUMN supervision String DEFAULT '', "
    "ADD COLUMN callback String DEFAULT '', "
    "ADD COLUMN unsolved UInt16 DEFAULT 0"
)
# Every notification attempt (migration 8, docs/notifications.md): one row per attempt of one
# notification to one target, with its outcome; the incident page shows them in its timeline.
# Plain MergeTree: attempts are a log, each row its own (a retried attempt is a new row).
_NOTIFICATIONS = """
CREATE TABLE IF NOT EXISTS {db}.notifications (
    incident_id String,
    notification_id String,
    trigger String,
    target String,
    kind String,
    attempt UInt16,
    at DateTime,
    status String,
    http_status UInt16,
    error String
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(at)
ORDER BY (incident_id, notification_id, target, at, attempt)
"""

# Sensor readings (migration 7, early warning): built for volume. LowCardinality needs an
# experimental setting on 18.16, so codes stay String; the value is a Float32 (4 bytes, ~7
# significant digits: plenty for a gauge), times are DateTime (seconds), one partition per day,
# sorted by sensor and time so one sensor's series is a range read. A redelivered batch leaves
# duplicates that merges remove (same sensor, time, metric, department).
_READINGS = """
CREATE TABLE IF NOT EXISTS {db}.readings (
    sensor_id String,
    time DateTime,
    metric String,
    department String,
    value Float32,
    unit String,
    district String,
    street String,
    micro_grid String,
    received_at DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toDate(time)
ORDER BY (sensor_id, time, metric, department)
"""
# Feeds that must not go silent: one row per change (went silent, came back); the latest per
# department by `version` is the feed's state (the wall's "since HH:MM").
_FEED_STATES = """
CREATE TABLE IF NOT EXISTS {db}.feed_states (
    department String,
    silent UInt8,
    silent_since Nullable(DateTime),
    last_seen DateTime,
    version UInt64,
    updated_at DateTime
) ENGINE = ReplacingMergeTree(version)
ORDER BY department
"""
# Warning periods (a rainstorm alert, a festival) that shade the wall's time series; one row per
# annotation event, `district` '' for the whole city (storage/annotations.py).
_ANNOTATIONS = """
CREATE TABLE IF NOT EXISTS {db}.annotations (
    id String,
    department String,
    actor String,
    kind String,
    label String,
    district String,
    start DateTime,
    end DateTime,
    created_at DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(start)
ORDER BY (start, id)
"""

# Resident-unit claims (migration 9, docs/claims.md): the latest state of an item by `version`
# (one row per change), and every transition of it, sorted so one item's history is a range read.
_CLAIMS = """
CREATE TABLE IF NOT EXISTS {db}.claims (
    item_id String,
    community String,
    street String,
    district String,
    category String,
    title String,
    description String,
    status String,
    unit_id String,
    percent UInt8,
    sent_back UInt16,
    published_at DateTime,
    claimed_at Nullable(DateTime),
    done_at Nullable(DateTime),
    confirmed_at Nullable(DateTime),
    seen Array(String),
    version UInt64,
    updated_at DateTime
) ENGINE = ReplacingMergeTree(version)
ORDER BY item_id
"""
_CLAIM_TRANSITIONS = """
CREATE TABLE IF NOT EXISTS {db}.claim_transitions (
    item_id String,
    seq UInt32,
    at DateTime,
    event_id String,
    verb String,
    from_status String,
    to_status String,
    actor String,
    comment String,
    district String
) ENGINE = ReplacingMergeTree()
ORDER BY (item_id, seq)
"""

# 并单 (migrations 11-14, streams/incidents/merge.py): `merged_into` names the incident a duplicate
# was merged into ('' for every other incident). A merged duplicate is no matter of its own (its
# reports count in the survivor), so no measure counts it (storage/measures.py `COUNTED`). One
# ALTER per migration: 18.16 has no ADD COLUMN IF NOT EXISTS, so a migration interrupted between
# two ALTERs could never run again.
_INCIDENTS_MERGED_INTO = "ALTER TABLE {db}.incidents ADD COLUMN merged_into String DEFAULT ''"
_INCIDENT_CHANGES_MERGED_INTO = (
    "ALTER TABLE {db}.incident_changes ADD COLUMN merged_into String DEFAULT ''"
)
_INCIDENTS_BY_REPORT_MERGED_INTO = (
    "ALTER TABLE {db}.incidents_by_report ADD COLUMN merged_into String DEFAULT ''"
)
# The copies of the incident rows get the column through new materialized views (18.16 cannot
# change a view's query): each new view is made before the old one is dropped, so a row written
# meanwhile (a rolling upgrade migrates a live database) is fed by at least one of them; one fed
# twice is an identical duplicate, which every reader already removes (argMax by version).
_MV_INCIDENT_CHANGES_MERGED = (
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.incident_changes_merged_mv "
    "TO {db}.incident_changes AS "
    "SELECT incident_id, status, level, unit_code, district, street, category, severity,\n"
    "    title, lead_department, departments, joint, reported_at, accept_due, resolve_due, "
    "escalations,\n"
    "    breaches, repeat_count, reopened, satisfied, lat, lon, version, updated_at, "
    "merged_into FROM {db}.incidents"
)
_DROP_MV_INCIDENT_CHANGES = "DROP TABLE IF EXISTS {db}.incident_changes_mv"
_MV_INCIDENTS_BY_REPORT_MERGED = (
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.incidents_by_report_merged_mv "
    "TO {db}.incidents_by_report AS "
    "SELECT incident_id, status, level, unit_code, district, street, category, severity,\n"
    "    title, lead_department, departments, joint, reported_at, accept_due, resolve_due, "
    "escalations,\n"
    "    breaches, repeat_count, reopened, satisfied, lat, lon, version, updated_at, "
    "merged_into FROM {db}.incidents"
)
_DROP_MV_INCIDENTS_BY_REPORT = "DROP TABLE IF EXISTS {db}.incidents_by_report_mv"
# The shared views again (they hold no data): incidents_current with merged_into, and measures
# without the merged duplicates.
_DROP_V_MEASURES = "DROP TABLE IF EXISTS {db}.measures"
_DROP_V_INCIDENTS_CURRENT = "DROP TABLE IF EXISTS {db}.incidents_current"
_V_INCIDENTS_CURRENT_MERGED = """
CREATE VIEW IF NOT EXISTS {db}.incidents_current AS
SELECT
    incident_id,
    argMax(status, _v) AS status,
    argMax(level, _v) AS level,
    argMax(unit_code, _v) AS unit_code,
    argMax(owner_unit, _v) AS owner_unit,
    argMax(district, _v) AS district,
    argMax(street, _v) AS street,
    argMax(community, _v) AS community,
    argMax(grid, _v) AS grid,
    argMax(micro_grid, _v) AS micro_grid,
    argMax(category, _v) AS category,
    argMax(severity, _v) AS severity,
    argMax(title, _v) AS title,
    argMax(lead_department, _v) AS lead_department,
    argMax(departments, _v) AS departments,
    argMax(joint, _v) AS joint,
    argMax(reported_at, _v) AS reported_at,
    argMax(accepted_at, _v) AS accepted_at,
    argMax(resolved_at, _v) AS resolved_at,
    argMax(closed_at, _v) AS closed_at,
    argMax(accept_due, _v) AS accept_due,
    argMax(resolve_due, _v) AS resolve_due,
    argMax(escalations, _v) AS escalations,
    argMax(breaches, _v) AS breaches,
    argMax(repeat_count, _v) AS repeat_count,
    argMax(reopened, _v) AS reopened,
    argMax(satisfied, _v) AS satisfied,
    argMax(lat, _v) AS lat,
    argMax(lon, _v) AS lon,
    argMax(merged_into, _v) AS merged_into,
    max(_v) AS version,
    max(updated_at) AS updated_at
FROM (SELECT *, version AS _v FROM {db}.incidents)
GROUP BY incident_id
"""
_V_MEASURES_UNMERGED = """
CREATE VIEW IF NOT EXISTS {db}.measures AS
SELECT
    count() AS incidents,
    countIf(status = 'closed') AS closed,
    countIf(status IN ('resolved', 'closed')) AS resolved_or_closed,
    countIf(status = 'closed' AND reopened = 0 AND ifNull(satisfied, 1) = 1) AS actually_resolved,
    countIf(repeat_count > 0) AS with_repeats,
    countIf(escalations > 0) AS escalated,
    countIf(status IN ('resolved', 'closed') AND level IN ('grid', 'micro_grid')) AS resolved_at_grid,
    countIf(status IN ('resolved', 'closed') AND level = 'community') AS resolved_at_community,
    countIf(status IN ('resolved', 'closed') AND level = 'street') AS resolved_at_street,
    if(incidents = 0, 0, closed / incidents) AS closure_rate,
    if(resolved_or_closed = 0, 0, actually_resolved / resolved_or_closed) AS resolution_rate,
    if(incidents = 0, 0, with_repeats / incidents) AS repeat_rate,
    if(incidents = 0, 0, escalated / incidents) AS escalation_rate,
    if(resolved_or_closed = 0, 0,
       (resolved_at_grid + resolved_at_community + resolved_at_street) / resolved_or_closed)
        AS street_or_below_share
FROM {db}.incidents_current
WHERE merged_into = ''
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "contract tables: events, incidents, incident_transitions, dept_tasks, rejected_events",
        (_EVENTS, _INCIDENTS, _TRANSITIONS, _DEPT_TASKS, _REJECTED),
    ),
    Migration(2, "shared views: incidents_current, measures", (_V_INCIDENTS_CURRENT, _V_MEASURES)),
    Migration(
        3,
        "incident_changes: incident rows by updated_at, for the dashboard's delta reads",
        (_INCIDENT_CHANGES, _MV_INCIDENT_CHANGES, _BACKFILL_INCIDENT_CHANGES),
    ),
    Migration(
        4,
        "event_hours (rows inserted per event hour) and transitions_by_time, for the wall",
        (
            _EVENT_HOURS,
            _MV_EVENT_HOURS,
            _BACKFILL_EVENT_HOURS,
            _TRANSITIONS_BY_TIME,
            _MV_TRANSITIONS_BY_TIME,
            _BACKFILL_TRANSITIONS_BY_TIME,
        ),
    ),
    Migration(
        5,
        "incidents_by_report and incident_event_ids, for the drill-down search and pages",
        (
            _INCIDENTS_BY_REPORT,
            _MV_INCIDENTS_BY_REPORT,
            _BACKFILL_INCIDENTS_BY_REPORT,
            _INCIDENT_EVENT_IDS,
            _MV_INCIDENT_EVENT_IDS,
            _BACKFILL_INCIDENT_EVENT_IDS,
        ),
    ),
    Migration(
        6,
        "incidents: returns, supervision, callback, unsolved (closing the loop)",
        (_INCIDENTS_LOOP_COLUMNS,),
    ),
    Migration(7, "early warning: readings and feed_states", (_READINGS, _FEED_STATES)),
    Migration(8, "notifications: every notification attempt and its outcome", (_NOTIFICATIONS,)),
    Migration(
        9, "resident-unit claims: claims and claim_transitions", (_CLAIMS, _CLAIM_TRANSITIONS)
    ),
    Migration(10, "annotations: warning periods shading the wall's time series", (_ANNOTATIONS,)),
    Migration(11, "incidents: merged_into (并单)", (_INCIDENTS_MERGED_INTO,)),
    Migration(12, "incident_changes: merged_into", (_INCIDENT_CHANGES_MERGED_INTO,)),
    Migration(13, "incidents_by_report: merged_into", (_INCIDENTS_BY_REPORT_MERGED_INTO,)),
    Migration(
        14,
        "merged_into through the copies' views; the shared views leave merged duplicates out",
        (
            _MV_INCIDENT_CHANGES_MERGED,
            _DROP_MV_INCIDENT_CHANGES,
            _MV_INCIDENTS_BY_REPORT_MERGED,
            _DROP_MV_INCIDENTS_BY_REPORT,
            _DROP_V_MEASURES,
            _DROP_V_INCIDENTS_CURRENT,
            _V_INCIDENTS_CURRENT_MERGED,
            _V_MEASURES_UNMERGED,
        ),
    ),
)

TABLES = ("events", "incidents", "incident_transitions", "dept_tasks", "rejected_events")
