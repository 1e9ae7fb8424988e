"""The writer against a real ClickHouse server that goes away and comes back: a broken
connection fails the insert, the writer replaces it, and every row is stored exactly once."""

from __future__ import annotations

import threading
import uuid

import pytest

from cityops.storage.client import connect, migrate
from cityops.storage.writer import ClickHouseWriter


def an_event(event_id: str) -> tuple:
    return (
        event_id,
        "city.report.v1",
        "/departments/x",
        "x",
        1_764_036_000,
        1_764_036_000,
        "",
        "",
        "",
        "",
        "",
        "noise",
        1,
        "hotline",
        "t",
        "",
        b"{}",
    )


def stored_ids(target) -> list[str]:
    client = connect(target)
    try:
        rows = client.execute(f"SELECT id FROM {target.database}.events ORDER BY id")
        return [row[0] for row in rows]
    finally:
        client.disconnect()


def test_writer_replaces_a_broken_connection_and_loses_nothing(private_clickhouse):
    target = private_clickhouse.target.with_database(f"w_{uuid.uuid4().hex[:10]}")
    migrate(connect(target, database=False), target.database)
    failures: list[float] = []

    def back_off(delay: float) -> None:  # the server returns while the writer waits
        failures.append(delay)
        if private_clickhouse.proc is None:
            private_clickhouse.start()

    writer = ClickHouseWriter(target, sleep=back_off)
    try:
        writer.add("events", an_event("e1"))
        assert writer.flush() == 1
        first_client = writer._client

        # the server goes away under an open connection: the insert fails, is retried on a new one
        private_clickhouse.stop()
        writer.add("events", an_event("e2"))
        assert writer.flush() == 1
        assert failures == [0.2], "the insert on the broken connection should fail once"
        assert writer._client is not None and writer._client is not first_client

        # a restart between two flushes: the driver's ping finds the stale connection and
        # reconnects before the insert
        private_clickhouse.stop()
        private_clickhouse.start()
        writer.add("events", an_event("e3"))
        assert writer.flush() == 1
        assert failures == [0.2]
        assert stored_ids(target) == ["e1", "e2", "e3"]
    finally:
        writer.close()


def test_writer_that_is_stopping_gives_up_and_keeps_the_rows(private_clickhouse):
    target = private_clickhouse.target.with_database(f"w_{uuid.uuid4().hex[:10]}")
    migrate(connect(target, database=False), target.database)
    writer = ClickHouseWriter(target, stopping=threading.Event(), sleep=lambda _: None)
    writer.add("events", an_event("e1"))
    writer.flush()
    private_clickhouse.stop()
    writer.stopping.set()
    writer.add("events", an_event("e2"))
    with pytest.raises(ConnectionError, match="unreachable while stopping"):
        writer.flush()
    assert writer.pending == 1
    writer.close()
