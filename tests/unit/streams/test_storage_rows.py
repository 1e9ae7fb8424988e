"""Rows match the declared columns (storage/tables.py); our codecs in use; intake conversion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from cityops.schemas.registry import load_registry
from cityops.storage.client import ClickHouseTarget
from cityops.storage.writer import COLUMNS, FLUSH_ORDER, ClickHouseWriter
from cityops.streams.clock import Clock
from cityops.streams.incidents import rows
from cityops.streams.incidents.logic import step
from cityops.streams.incidents.model import ActionIn, RejectIn, ReportIn
from cityops.streams.intake import to_item
from tests.unit.streams.builders import POLICY, T0, a_report, an_action


def test_row_builders_match_the_table_columns():
    item = a_report()
    incident, transitions, _ = step(None, item, T0, POLICY)
    action = an_action("accept", incident)
    built = {
        "events": [rows.event_row(item, incident.id), rows.action_event_row(action, incident)],
        "incidents": [rows.incident_row(incident)],
        "incident_transitions": [rows.transition_row(transitions[0])],
        "dept_tasks": rows.task_rows(incident),
        "rejected_events": [rows.rejected_row(rows.misfit_reject(action, "why"))],
    }
    for table, made in built.items():
        for row in made:
            assert len(row) == len(COLUMNS[table]), table
    event = rows.as_dict("events", built["events"][0])
    assert event["id"] == item.id and event["incident_id"] == incident.id
    assert event["micro_grid"] == item.chain.micro_grid
    assert event["time"] == int((item.time or item.at).timestamp())
    stored = rows.as_dict("incidents", built["incidents"][0])
    assert stored["incident_id"] == incident.id and stored["status"] == incident.status
    assert stored["version"] == incident.version and stored["accepted_at"] is None
    task = rows.as_dict("dept_tasks", built["dept_tasks"][0])
    assert task["department"] == incident.tasks[0].department and task["role"] == "lead"
    transition = rows.as_dict("incident_transitions", built["incident_transitions"][0])
    assert transition["kind"] == transitions[0].kind and transition["seq"] == transitions[0].seq
    reject = rows.as_dict("rejected_events", built["rejected_events"][0])
    assert reject["reason"] == "why" and reject["event_id"] == action.id


def test_state_snapshot_round_trips():
    incident, _, _ = step(None, a_report(), T0, POLICY)
    state = rows.as_dict("incidents", rows.incident_row(incident))["state"]
    assert rows.decode_state(state) == incident


def test_writer_batches_until_due_and_retries_until_stored():
    sleeps: list[float] = []
    writer = ClickHouseWriter(ClickHouseTarget(), max_rows=2, max_delay=60, sleep=sleeps.append)
    calls = []
    failures = [ConnectionError("down"), ConnectionError("down")]

    def insert(table, rows):
        if failures:
            raise failures.pop()
        calls.append((table, len(rows)))

    writer._insert = insert
    writer.add("events", ("1",))
    assert not writer.due()
    writer.add("events", ("2",))
    assert writer.due()
    assert writer.flush() == 2
    assert calls == [("events", 2)] and sleeps == [0.2, 0.4] and writer.pending == 0


def test_writer_stores_incident_snapshots_after_everything_else():
    writer = ClickHouseWriter(ClickHouseTarget(), sleep=lambda _: None)
    order = []
    writer._insert = lambda table, rows: order.append(table)
    for table in ("incidents", "dept_tasks", "events", "incident_transitions", "rejected_events"):
        writer.add(table, ())
    writer.flush()
    assert order[-1] == "incidents" and order[0] == "events"


def test_writer_fills_exactly_the_declared_tables_in_a_fixed_order():
    assert sorted(FLUSH_ORDER) == sorted(COLUMNS)
    writer = ClickHouseWriter(ClickHouseTarget())
    with pytest.raises(KeyError, match="incident_changes"):
        writer.add("incident_changes", ())  # filled by a materialized view, never by the writer


def test_faust_tables_use_the_msgpack_codecs():
    from cityops.settings import Settings
    from cityops.streams.app import create_app

    _, runtime, _ = create_app(Settings(topic_prefix="t."))
    for table, codec in (
        (runtime.incidents_table, "cityops_incident"),
        (runtime.repeats_table, "cityops_bucket"),
    ):
        assert table.changelog_topic.value_serializer == codec
        assert table.changelog_topic.key_serializer == "cityops_key"


def event(**over) -> bytes:
    body = {
        "specversion": "1.0",
        "id": "e1",
        "source": "/departments/hotline12345",
        "type": "city.report.v1",
        "time": "2026-11-25T02:00:00Z",
        "data": {
            "channel": "hotline",
            "category": "noise",
            "severity": 1,
            "title": "t",
            "location": {"district": "320105", "micro_grid": "3201050010010101"},
        },
    }
    body.update(over)
    return orjson.dumps(body)


def convert(value: bytes):
    return to_item(
        value,
        None,
        b"k",
        1_764_036_000_000,
        "t/0/5",
        now=T0,
        clock=Clock(),
        registry=load_registry(),
    )


def test_intake_enriches_the_chain_and_keys_by_street():
    key, item = convert(event())
    assert isinstance(item, ReportIn) and key == "320105001"
    assert item.chain.grid == "32010500100101"
    assert item.received_at == datetime.fromtimestamp(1_764_036_000, UTC)


def test_intake_routes_actions_by_the_incident_id_street():
    value = event(
        type="city.incident.accept.v1",
        source="/departments/water",
        data={"incident_id": "320105002-abc", "department": "water"},
    )
    key, item = convert(value)
    assert isinstance(item, ActionIn) and key == "320105002" and item.verb == "accept"


def test_intake_rejects_an_action_in_another_departments_name():
    value = event(
        type="city.incident.accept.v1",
        source="/departments/gas",
        data={"incident_id": "320105002-abc", "department": "water"},
    )
    _, item = convert(value)
    assert isinstance(item, RejectIn)
    assert item.path == "data.department" and item.source == "/departments/gas"
    assert item.reason.startswith('"water" is not the sender "gas"')


def test_intake_turns_invalid_events_into_rejects_with_a_stable_id():
    key, item = convert(b"{nope")
    assert isinstance(item, RejectIn) and item.reason == "not valid JSON"
    assert convert(b"{nope")[1].reject_id == item.reject_id


def test_task_rows_only_for_tasks_new_or_changed_since_the_previous_version():
    opened, _, _ = step(None, a_report(), T0, POLICY)
    assert len(rows.task_rows(opened)) == len(opened.tasks) >= 1
    lead = opened.tasks[0].department
    repeat, _, _ = step(opened, a_report(), T0, POLICY)  # a repeat: tasks untouched
    assert repeat.version > opened.version
    assert rows.task_rows(repeat, opened) == []
    accepted, _, _ = step(repeat, an_action("accept", repeat, department=lead), T0, POLICY)
    changed = [rows.as_dict("dept_tasks", row) for row in rows.task_rows(accepted, repeat)]
    assert [(r["department"], r["status"]) for r in changed] == [(lead, "accepted")]
    assert changed[0]["version"] == accepted.version


def test_unix_seconds_are_right_however_moments_repeat():
    later = T0 + timedelta(minutes=1, microseconds=999_999)
    same_as_t0 = T0.astimezone(timezone(timedelta(hours=8)))  # equal moment, another object
    for moment in (T0, T0, later, T0, same_as_t0, same_as_t0, later):
        assert rows._ts(moment) == int(moment.timestamp())
    assert rows._ts(later) == int(T0.timestamp()) + 60


def test_long_texts_are_stored_as_their_utf8_bytes():
    item = a_report()
    item.raw = '{"title":"井盖缺失"}'.encode()
    incident, _, _ = step(None, item, T0, POLICY)
    incident.title = "井盖缺失"
    assert rows.as_dict("events", rows.event_row(item, incident.id))["payload"] == item.raw
    state = rows.as_dict("incidents", rows.incident_row(incident))["state"]
    assert state == rows.encode_state(incident) and state.decode("utf-8")


def test_clickhouse_driver_writes_utf8_bytes_as_the_str_they_decode_to():
    """The rows' bytes values reach String columns unchanged: the driver (with the writer's
    types_check=False) writes bytes as they are and encodes str to UTF-8."""
    from clickhouse_driver import Client
    from clickhouse_driver.bufferedwriter import BufferedSocketWriter
    from clickhouse_driver.columns.service import write_column

    class Socket:
        def __init__(self) -> None:
            self.sent = b""

        def sendall(self, data) -> None:
            self.sent += bytes(data)

    context = Client("localhost").connection.context

    def written(values: list) -> bytes:
        socket = Socket()
        buffer = BufferedSocketWriter(socket, 1024)
        write_column(context, "raw", "String", values, buffer, types_check=False)
        buffer.flush()
        return socket.sent

    text = ['{"title":"井盖缺失"}', "", "plain"]
    assert written([value.encode() for value in text]) == written(text)
    encoded = text[0].encode()
    assert written(text[:1]) == bytes([len(encoded)]) + encoded  # length, then the UTF-8 bytes


@pytest.mark.parametrize("depth", [1000, 5000])
def test_deeply_nested_json_becomes_a_reject_not_a_crash(depth):
    # Up to a few hundred levels the decoder skips an unknown field; deeper ones used to raise
    # RecursionError out of the validator, which stopped the intake bridge.
    nested = b"[" * depth + b"]" * depth
    for value in (
        event().replace(b'"channel"', b'"x":' + nested + b',"channel"', 1),
        b'{"a":' + nested + b"}",
    ):
        _, item = convert(value)
        assert isinstance(item, RejectIn) and item.raw == value
        assert item.reason == "JSON nested too deeply"
