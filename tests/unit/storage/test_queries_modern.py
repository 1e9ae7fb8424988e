"""The dashboard's named queries run unchanged on a current ClickHouse (chdb, in-process) and give
the expected answers; the same queries run on 18.16 in tests/e2e."""

from __future__ import annotations

import json
import time

import pytest

from cityops.storage import event_queries as eq
from cityops.storage import incident_pages as ip
from cityops.storage import search_queries as sq
from cityops.storage import wall_queries as wq
from cityops.storage.ddl import MIGRATIONS
from tests.e2e.builders import a_task, a_transition, an_event, an_incident
from tests.optional import require

chdb_session = require("chdb.session")  # skips where chdb is missing, fails in CI


class ChdbClient:
    """Just enough of clickhouse-driver's Client: execute(sql, params) -> rows."""

    def __init__(self, session) -> None:
        from clickhouse_driver import Client

        self.session = session
        self._driver = Client("localhost")  # only for its parameter substitution; never connects

    def execute(self, sql: str, params: dict | None = None):
        if params:
            sql = self._driver.substitute_params(sql, params, self._driver.connection.context)
        result = self.session.query(sql, "JSONCompact")
        text = result.bytes().decode() if hasattr(result, "bytes") else str(result)
        return [tuple(row) for row in json.loads(text)["data"]] if text.strip() else []


def _literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if hasattr(value, "timestamp"):
        return f"toDateTime({int(value.timestamp())})"
    return repr(value)


def insert(client: ChdbClient, table: str, rows: list[dict]) -> None:
    columns = list(rows[0])
    values = ", ".join("(" + ", ".join(_literal(r[c]) for c in columns) + ")" for r in rows)
    client.session.query(f"INSERT INTO db.{table} ({', '.join(columns)}) VALUES {values}")


def migrated(path) -> ChdbClient:
    """A chdb session in `path` with database `db` at the newest schema."""
    session = chdb_session.Session(str(path))
    session.query("CREATE DATABASE IF NOT EXISTS db")
    for migration in MIGRATIONS:
        for statement in migration.statements:
            session.query(statement.format(db="db"))
    return ChdbClient(session)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    c = migrated(tmp_path_factory.mktemp("chdb"))
    now = NOW
    insert(
        c, "events", [an_event(id=f"e{i}", time=now - 10 * i, incident_id="i1") for i in range(5)]
    )
    insert(
        c,
        "incidents",
        [
            an_incident(incident_id="i1", reported_at=now - 3000, severity=3, joint=1),
            an_incident(
                incident_id="i1",
                reported_at=now - 3000,
                version=2,
                status="closed",
                updated_at=now - 100,
            ),
            an_incident(
                incident_id="i2",
                reported_at=now - 3000,
                severity=4,
                breaches=1,
                district="320102",
                street="320102001",
            ),
        ],
    )
    insert(c, "incident_transitions", [a_transition(incident_id="i1", seq=1, at=now - 3000)])
    insert(c, "dept_tasks", [a_task(incident_id="i1", department="water", assigned_at=now - 2000)])
    yield c
    c.session.close()


NOW = int(time.time())


def test_counters_on_current_clickhouse(client):
    total = wq.incident_counters(client, "db", now=NOW).total
    assert (total["open"], total["breached"], total["win"], total["win_closed"]) == (1, 1, 2, 1)
    assert wq.incident_counters(client, "db", now=NOW, scope="320105").total["open"] == 0


def test_search_and_detail_on_current_clickhouse(client):
    total, rows = sq.search_incidents(
        client, "db", sq.IncidentFilter(since=NOW - 86400, until=NOW + 60), sort="severity"
    )
    assert total == 2 and [r["incident_id"] for r in rows] == ["i2", "i1"]
    assert ip.incident(client, "db", "i1")["status"] == "closed"
    assert ip.incident(client, "db", "i1", scope="320102") is None
    assert [s["seq"] for s in ip.transitions(client, "db", "i1")] == [1]
    assert len(ip.incident_events(client, "db", "i1", since=NOW - 86400)) == 5
    assert wq.severe_open(client, "db")[0]["incident_id"] == "i2"
    assert eq.freshness(client, "db", now=NOW)["newest"] == NOW
    assert ip.tasks_of(client, "db", ("i1",))[0]["department"] == "water"


def test_wall_event_queries_on_current_clickhouse(client):
    # the materialized views of migration 4 saw the inserts above
    hours = dict(eq.event_hour_rows(client, "db", since=NOW - 2 * 86400))
    assert sum(hours.values()) == 5
    counted = eq.event_hour_counts(client, "db", since=min(hours), until=max(hours) + 3600)
    assert sum(row[4] for row in counted) == 5
    feed = eq.latest_events(client, "db", since=NOW - 3600, limit=3, now=NOW)
    assert [e["id"] for e in feed] == ["e0", "e1", "e2"]
    moves = eq.latest_transitions(client, "db", since=NOW - 3600, now=NOW)
    assert [(m["incident_id"], m["seq"]) for m in moves] == [("i1", 1)]


def test_cached_search_page_rows_on_current_clickhouse(client):
    from cityops.dashboard.cache.incident_search import Found, page_rows
    from cityops.dashboard.cache.latest_state import LatestState
    from tests.unit.dashboard.cache.test_snapshot import a_row

    h = int(client.execute("SELECT cityHash64('i2')")[0][0])
    state = LatestState()
    state.load([a_row(h, district="320102", reported_at=NOW - 3000)])
    rows = page_rows(client, "db", state, Found(1, [0]))
    assert [(r["incident_id"], r["severity"]) for r in rows] == [("i2", 4)]
