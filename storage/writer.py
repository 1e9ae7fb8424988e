"""The batching ClickHouse sink: `add(table, row)` per record, `flush()` writes every table's batch
with native columnar inserts (values as data, never inside SQL text). A row is a tuple in the
table's column order (`COLUMNS[table]`), as the engine's row builders make them
(streams/incidents/rows.py); DateTime values may be datetimes or precomputed Unix seconds (ints
skip the driver's per-value conversion). While ClickHouse is unreachable `flush()` retries with
backoff and does not return, so its caller commits nothing that is not stored.

Column order: the declared columns of storage/tables.py, not the server's (`DESCRIBE TABLE` at
start). The row builders are code that puts each value at a fixed position, so the order they
follow has to be code too: a server-read order could differ from it without any error (a reordered
or added column would shift values into the wrong columns), while the declared order is checked
against the migrations by a unit test and against a migrated server by an integration test, needs
no round trip before the first insert, and lets the row builders be tested without a server.

Connections: clickhouse-driver pings an open connection before each query and reconnects when the
ping fails (`Connection.force_connect`; 0.2.11 has no option to skip it, and the writer no longer
replaces the ping method). Measured on ClickHouse 18.16: ~30 µs per ping on loopback; a flush of
five tables of 100 rows, 26.34 ms median with the pings against 26.18 ms without. A server that
went away between flushes is found by the ping and a new connection is opened; one that is down,
or a connection that breaks after the ping, fails the insert, and `flush()` drops the client and
retries on a new one (tests/integration/test_writer_clickhouse.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from cityops.storage import tables
from cityops.storage.client import ClickHouseTarget, check_database_name, connect

log = logging.getLogger(__name__)
# {table: column names in insert order}, for the tables the writer fills
COLUMNS = {table: tables.column_names(table) for table in tables.WRITTEN}
# The order `flush()` inserts in: `incidents` last. After the broker lost the changelogs, recovery
# rebuilds state from the stored incident snapshots and treats the events that led to a snapshot
# as stored; a crash between two inserts must never leave a snapshot without its events.
_INSERT_SETTINGS = {"insert_distributed_sync": 1}
FLUSH_ORDER = (
    "readings",
    "feed_states",
    "events",
    "rejected_events",
    "claim_transitions",  # before `claims`: a stored state never lacks its history
    "claims",
    "annotations",  # warning periods departments publish (city.annotation.v1)
    "incident_transitions",
    "dept_tasks",
    "incidents",
)


class ClickHouseWriter:
    """Batches rows per table; `flush()` stores them all or keeps retrying.

    Size and time: `due()` says when the caller should flush (`max_rows` in one table, or the
    oldest row older than `max_delay` seconds), so a quiet city's rows are queryable within
    about a second while a busy one inserts in large batches.
    """

    def __init__(
        self,
        target: ClickHouseTarget,
        *,
        max_rows: int = 20_000,
        max_delay: float = 0.5,
        backoff: tuple[float, float] = (0.2, 5.0),
        sleep: Callable[[float], None] = time.sleep,
        stopping: threading.Event | None = None,
    ) -> None:
        self.target = target
        self.database = check_database_name(target.database)
        self.max_rows, self.max_delay = max_rows, max_delay
        self.backoff = backoff
        self._sleep = sleep
        self.stopping = stopping or threading.Event()
        self._pending: dict[str, list[tuple]] = {}
        self._since: float | None = None
        self._client = None
        self.insert_errors: Counter[str] = Counter()  # failed inserts per table (metrics)

    # -- batching -----------------------------------------------------------------------------
    def add(self, table: str, row: tuple) -> None:
        pending = self._pending.get(table)
        if pending is None:
            if table not in COLUMNS:
                raise KeyError(f"unknown table {table!r}")
            pending = self._pending[table] = []
            if self._since is None:
                self._since = time.monotonic()
        pending.append(row)

    @property
    def pending(self) -> int:
        return sum(len(rows) for rows in self._pending.values())

    def due(self) -> bool:
        if self._since is None:
            return False
        if time.monotonic() - self._since >= self.max_delay:
            return True
        return any(len(rows) >= self.max_rows for rows in self._pending.values())

    # -- writing ------------------------------------------------------------------------------
    def detach(self) -> dict[str, list]:
        """Hands over everything pending as a batch for `flush(batch)`; new rows start afresh.
        (The engine stores one batch in a thread while it applies the next bundles.)"""
        batch, self._pending, self._since = self._pending, {}, None
        return batch

    def flush(self, batch: dict[str, list] | None = None) -> int:
        """Insert everything pending (or a detached `batch`); returns the rows written. Retries
        until it succeeds or `stopping` is set (then raises, leaving the rows in the batch)."""
        own = batch is None
        pending = self._pending if own else batch
        written = 0
        delay = self.backoff[0]
        while pending:
            table = min(pending, key=FLUSH_ORDER.index)
            rows = pending[table]
            try:
                self._insert(table, rows)
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect and retry
                self.insert_errors[table] += 1
                self._drop_client()
                if self.stopping.is_set():
                    raise ConnectionError(f"ClickHouse unreachable while stopping: {exc}") from exc
                log.warning(
                    "ClickHouse insert into %s failed (%s); retrying in %.1f s", table, exc, delay
                )
                self._sleep(delay)
                delay = min(delay * 2, self.backoff[1])
                continue
            del pending[table]
            written += len(rows)
            delay = self.backoff[0]
        if own:
            self._since = None
        return written

    def _insert(self, table: str, rows: list[tuple]) -> None:
        columns = COLUMNS[table]
        client = self._client or self._connect()
        # Identifiers are whitelisted (database name checked, table one of COLUMNS); values are
        # sent in the native protocol as column data. String values may be str or UTF-8 bytes
        # (the engine hands payload and state over as bytes); without types_check the driver
        # writes bytes as they are (with it, bytes in a String column would be refused).
        client.execute(
            f"INSERT INTO {self.database}.{table} ({', '.join(columns)}) VALUES",
            # column-ordered: one transpose in C instead of the driver's per-row work
            [list(column) for column in zip(*rows, strict=True)],
            types_check=False,
            columnar=True,
            # On a cluster (CITYOPS_CLICKHOUSE_CLUSTER) `table` is Distributed: the insert returns
            # once every shard's part is stored on one of its replicas, not when it is queued on
            # this node (docs/deployment-cluster.md). No effect on a MergeTree table.
            settings=_INSERT_SETTINGS,
        )

    def _connect(self):
        self._client = connect(self.target)
        return self._client

    def _drop_client(self) -> None:
        if self._client is not None:
            try:
                self._client.disconnect()
            except Exception:  # noqa: BLE001 - already broken
                pass
            self._client = None

    def close(self) -> None:
        self._drop_client()
