"""Cluster-aware migrations (CONTRACT §9): the statements a cluster runs, derived from the frozen
single-node migrations of storage/ddl.py, which stay the one text of the schema.

`cluster_statements(statement, cluster)` renders one migration statement (with `{db}` filled in)
for a cluster named `cluster`; `migrate()` (storage/client.py) runs them when
`CITYOPS_CLICKHOUSE_CLUSTER` is set. Pure: parsed into parts and rendered from those parts, so an
unknown statement kind fails loudly (ValueError) instead of running unchanged on one node.

- `CREATE TABLE t … ENGINE = XMergeTree(args) …` becomes `t_local` ON CLUSTER with engine
  `ReplicatedXMergeTree('/clickhouse/tables/{shard}/db/t', '{replica}', args)` and the same
  columns, partitions and sorting key, plus `t` ON CLUSTER `AS t_local ENGINE =
  Distributed(cluster, db, t_local, <t's sharding key>)`: the contract name on every node.
- `CREATE VIEW v AS SELECT … FROM t`: `v` ON CLUSTER with the body unchanged; it reads the
  Distributed `t`, i.e. the whole cluster.
- `CREATE MATERIALIZED VIEW mv TO t AS SELECT … FROM s`: `mv` ON CLUSTER `TO t_local … FROM
  s_local`. Every replica feeds its own local target from the blocks inserted into its own local
  source; replication copies parts without firing views, and the target is replicated itself, so
  each row is fed once, on the shard of its source row.
- `DROP TABLE IF EXISTS v` of a view (a view or materialized view made again, migration 14):
  `v` ON CLUSTER; a table with data (one of SHARDING_KEYS, or a local one) is refused.
- `INSERT INTO t … SELECT … FROM s` (a backfill): unchanged, run once on one node through the
  Distributed tables (with `insert_distributed_sync`); the server re-shards the rows by t's key.

Sharding keys (`SHARDING_KEYS`): every incident-keyed table by the street (or district) code an
incident id starts with (`<street>-<hash>`, streams/incidents/logic.py), so one street's incidents
and all rows of one incident — every version, transition, task and event — live on one shard:
queries that pick the latest row per incident (`argMax(…, version)`, `LIMIT 1 BY`, `FINAL`) see
all of an incident's rows on one shard. A retried batch gives the same rows, hence the same
shard and the same block there, which the Replicated table drops as a duplicate.
"""

from __future__ import annotations

import re

from cityops.clickhouse_target import check_database_name

LOCAL_SUFFIX = "_local"
ZOOKEEPER_PATH = "/clickhouse/tables/{{shard}}/{db}/{table}"

# The street (or district) code in front of an incident id; the whole id when it has no '-'.
_STREET_OF_INCIDENT = "cityHash64(splitByChar('-', incident_id)[1])"
SHARDING_KEYS: dict[str, str] = {
    # an action's row has no street of its own: its incident's street decides
    "events": "cityHash64(if(incident_id = '', if(street = '', district, street), "
    "splitByChar('-', incident_id)[1]))",
    "incidents": _STREET_OF_INCIDENT,
    "incident_transitions": _STREET_OF_INCIDENT,
    "dept_tasks": _STREET_OF_INCIDENT,
    "rejected_events": "cityHash64(reject_id)",
    "incident_changes": _STREET_OF_INCIDENT,
    "transitions_by_time": _STREET_OF_INCIDENT,
    "incidents_by_report": _STREET_OF_INCIDENT,
    "incident_event_ids": _STREET_OF_INCIDENT,
    "notifications": _STREET_OF_INCIDENT,
    # counts per hour, fed per shard by its view; readers sum over the shards
    "event_hours": "cityHash64(hour)",
    # one sensor's series on one shard (its range reads stay on one node)
    "readings": "cityHash64(sensor_id)",
    # one row per department, replaced in place: all of a department's rows on one shard
    "feed_states": "cityHash64(department)",
    # an item's states (replaced in place by version) and history on its district's shard
    "claims": "cityHash64(district)",
    "claim_transitions": "cityHash64(district)",
    # a few rows a day, read whole by every wall (city-wide ones have district = '')
    "annotations": "cityHash64(district)",
}

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_CREATE_TABLE = re.compile(
    rf"^\s*CREATE TABLE IF NOT EXISTS (?P<db>{_IDENT})\.(?P<table>{_IDENT}) \((?P<columns>.*)\)"
    rf" ENGINE = (?P<engine>[A-Za-z]*MergeTree)(?:\((?P<args>[^()]*)\))?(?P<rest>.*)$",
    re.S,
)
_CREATE_VIEW = re.compile(
    rf"^\s*CREATE VIEW IF NOT EXISTS (?P<db>{_IDENT})\.(?P<name>{_IDENT})\s+AS\s(?P<body>.*)$", re.S
)
_CREATE_MV = re.compile(
    rf"^\s*CREATE MATERIALIZED VIEW IF NOT EXISTS (?P<db>{_IDENT})\.(?P<name>{_IDENT})"
    rf" TO (?P<target_db>{_IDENT})\.(?P<target>{_IDENT}) AS (?P<select>SELECT .*?)"
    rf" FROM (?P<source_db>{_IDENT})\.(?P<source>{_IDENT})(?P<tail>(?:\s.*)?)$",
    re.S,
)
# Only columns added (each action `ADD COLUMN …`): the local tables and the Distributed one
_ALTER_ADD = re.compile(
    rf"^\s*ALTER TABLE (?P<db>{_IDENT})\.(?P<table>{_IDENT}) "
    r"(?P<actions>ADD COLUMN (?:(?!\bDROP\b|\bMODIFY\b).)*)$",
    re.S,
)
# A view dropped to be made again (it holds no data); a data table is never dropped
_DROP_VIEW = re.compile(rf"^\s*DROP TABLE IF EXISTS (?P<db>{_IDENT})\.(?P<name>{_IDENT})\s*$")
_INSERT_SELECT = re.compile(rf"^\s*INSERT INTO {_IDENT}\.{_IDENT} \(.*\)\s+SELECT .*$", re.S)


def local_name(table: str) -> str:
    return table + LOCAL_SUFFIX


def check_cluster_name(name: str) -> str:
    """Cluster names go unquoted into SQL (`ON CLUSTER name`) and into XML: identifiers only."""
    if not re.fullmatch(_IDENT, name or "") or len(name) > 64:
        raise ValueError(f"invalid ClickHouse cluster name {name!r}: letters, digits and _ only")
    return name


def replicated_engine(engine: str, args: str | None, path: str, replica: str) -> str:
    """`ReplacingMergeTree(version)` →
    `ReplicatedReplacingMergeTree('path', 'replica', version)`."""
    inner = ", ".join(part for part in (f"'{path}'", f"'{replica}'", (args or "").strip()) if part)
    return f"Replicated{engine}({inner})"


def cluster_statements(statement: str, cluster: str) -> list[str]:
    """The statements that do on `cluster` what `statement` does on one node (see the module)."""
    check_cluster_name(cluster)
    if m := _CREATE_TABLE.match(statement):
        db, table = check_database_name(m["db"]), m["table"]
        if m["engine"].startswith("Replicated"):
            raise ValueError(f"{table}: already replicated, nothing to derive")
        if table not in SHARDING_KEYS:
            raise ValueError(
                f"no sharding key for table {table!r}: add one to SHARDING_KEYS in {__name__}"
            )
        local = local_name(table)
        path = ZOOKEEPER_PATH.format(db=db, table=table)
        engine = replicated_engine(m["engine"], m["args"], path, "{replica}")
        return [
            f"CREATE TABLE IF NOT EXISTS {db}.{local} ON CLUSTER {cluster} ({m['columns']})"
            f" ENGINE = {engine}{m['rest']}",
            f"CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster} AS {db}.{local}"
            f" ENGINE = Distributed({cluster}, {db}, {local}, {SHARDING_KEYS[table]})",
        ]
    if m := _CREATE_MV.match(statement):
        return [
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {m['db']}.{m['name']} ON CLUSTER {cluster}"
            f" TO {m['target_db']}.{local_name(m['target'])} AS {m['select']}"
            f" FROM {m['source_db']}.{local_name(m['source'])}{m['tail']}"
        ]
    if m := _CREATE_VIEW.match(statement):
        return [
            f"CREATE VIEW IF NOT EXISTS {m['db']}.{m['name']} ON CLUSTER {cluster} AS\n{m['body']}"
        ]
    if m := _ALTER_ADD.match(statement):
        # The replicated local tables first (each shard's replicas take the change through
        # ZooKeeper), then the Distributed table made again over them: 18.16 refuses an ALTER
        # ON CLUSTER of a table that is not replicated when the shards replicate internally
        # (Code 371), and a Distributed table holds no data, only its columns.
        db, table = check_database_name(m["db"]), m["table"]
        local = local_name(table)
        if table not in SHARDING_KEYS:
            raise ValueError(
                f"no sharding key for table {table!r}: add one to SHARDING_KEYS in {__name__}"
            )
        return [
            f"ALTER TABLE {db}.{local} ON CLUSTER {cluster} {m['actions']}",
            f"DROP TABLE IF EXISTS {db}.{table} ON CLUSTER {cluster}",
            f"CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster} AS {db}.{local}"
            f" ENGINE = Distributed({cluster}, {db}, {local}, {SHARDING_KEYS[table]})",
        ]
    if m := _DROP_VIEW.match(statement):
        db, name = check_database_name(m["db"]), m["name"]
        if name in SHARDING_KEYS or name.endswith(LOCAL_SUFFIX):
            raise ValueError(f"{name}: a table with data is never dropped by a migration")
        return [f"DROP TABLE IF EXISTS {db}.{name} ON CLUSTER {cluster}"]
    if _INSERT_SELECT.match(statement):
        return [statement]
    raise ValueError(f"no cluster form for this statement kind: {statement.strip()[:80]!r}")


def schema_version_statement(statement: str, cluster: str) -> str:
    """The migrations' own bookkeeping table, on the cluster: one replicated table that every
    node holds in full (one ZooKeeper path for all shards, replicas named `<shard>-<replica>`),
    so any node answers which migrations ran; no Distributed table over it."""
    check_cluster_name(cluster)
    m = _CREATE_TABLE.match(statement)
    if m is None:
        raise ValueError("not a CREATE TABLE statement")
    db, table = check_database_name(m["db"]), m["table"]
    path = f"/clickhouse/tables/all/{db}/{table}"
    engine = replicated_engine(m["engine"], m["args"], path, "{shard}-{replica}")
    return (
        f"CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster} ({m['columns']})"
        f" ENGINE = {engine}{m['rest']}"
    )


def create_database_statement(database: str, cluster: str | None) -> str:
    db = check_database_name(database)
    if cluster is None:
        return f"CREATE DATABASE IF NOT EXISTS {db}"
    return f"CREATE DATABASE IF NOT EXISTS {db} ON CLUSTER {check_cluster_name(cluster)}"
