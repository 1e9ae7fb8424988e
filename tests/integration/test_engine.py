"""The incident engine end to end: a real Tansu broker, a real ClickHouse server and real worker
processes (`python -m cityops.streams worker`). Scenarios (a)–(f) of the engine issue; every wait
polls with a deadline and names what it awaited."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from cityops.bench.events import publish_all, sample_reports
from cityops.deploy import services as svc
from cityops.schemas.topics import Topics
from cityops.settings import Settings
from cityops.storage.client import connect, migrate
from cityops.topics_admin import all_topics, create_topics
from tests.databases import drop_database
from tests.waiting import wait_until

MICRO = "3201050010010101"  # a micro-grid of 建邺区
SPEED = 600.0  # one real second is ten engine minutes


@dataclass
class Stack:
    settings: Settings
    ch: object
    log: Path
    worker: subprocess.Popen | None = None

    @property
    def db(self) -> str:
        return self.settings.database

    def start(self) -> None:
        self.worker = svc.start_worker(self.settings, self.log)

    def stop(self, sig=signal.SIGTERM) -> int | None:
        """Signals the worker's process group; its exit code (-9: it had to be killed)."""
        code = None
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, sig)
            try:
                code = self.worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, signal.SIGKILL)
                code = self.worker.wait(10)
        self.worker = None
        return code

    def send(self, *events: dict | tuple[bytes, bytes]) -> None:
        pairs = [e if isinstance(e, tuple) else (key_of(e), orjson.dumps(e)) for e in events]
        asyncio.run(
            publish_all(self.settings.bootstrap, Topics(self.settings.topic_prefix).events, pairs)
        )

    def q(self, sql: str, params: dict | None = None):
        return self.ch.execute(sql.replace("{db}", self.db), params or {})

    def wait(self, what: str, check, timeout: float = 60.0):
        def worker_alive_and_check():
            if self.worker is not None and self.worker.poll() is not None:
                pytest.fail(
                    f"worker exited ({self.worker.returncode}) while waiting for {what}; "
                    f"log tail:\n{svc.log_tail(self.log, 30)}"
                )
            return check()

        return wait_until(
            worker_alive_and_check,
            timeout,
            what,
            interval=0.2,
            ignoring=(Exception,),  # ClickHouse may be restarting
            details=lambda: f"worker log tail:\n{svc.log_tail(self.log, 30)}",
        )


def key_of(event: dict) -> bytes:
    return (event.get("partitionkey") or event["data"].get("incident_id", "")).encode()


def make_stack(request, bootstrap: str, target, home: Path, **overrides) -> Stack:
    """A worker's settings, topics and migrated database; the database is dropped when
    `request` (the test or fixture making the stack) ends (None: it lives on a server of the
    test's own, gone with it)."""
    token = uuid.uuid4().hex[:10]
    database = f"e_{token}"
    if request is not None:
        request.addfinalizer(lambda: drop_database(target, database))
    client = connect(target.with_database(database), database=False)
    migrate(client, database)
    client.disconnect()
    settings = Settings(
        home=home,
        kafka_bootstrap=bootstrap,
        clickhouse_url=target.with_database(database).url(),
        topic_prefix=f"e{token}.",
        partitions=4,
        database=database,
        clock_speed=SPEED,
        clock_epoch=time.time(),
        tick_seconds=0.5,
        flush_seconds=0.3,
        **overrides,
    )
    home.mkdir(parents=True, exist_ok=True)
    create_topics(bootstrap, all_topics(settings), settings.partitions)
    return Stack(settings, connect(target.with_database(database)), home / "worker.log")


@pytest.fixture(scope="module")
def engine(request, services, tmp_path_factory):
    """One worker shared by the scenarios that use distinct places of the city."""
    stack = make_stack(
        request, services.bootstrap, services.clickhouse, tmp_path_factory.mktemp("engine")
    )
    stack.start()
    yield stack
    stack.stop()
    stack.ch.disconnect()


# -- event builders -----------------------------------------------------------------------------
def a_report(category: str, severity: int, micro: str = MICRO, **data) -> dict:
    return {
        "specversion": "1.0",
        "id": f"r-{uuid.uuid4().hex}",
        "source": "/departments/hotline12345",
        "type": "city.report.v1",
        "time": _now(),
        "partitionkey": micro[:9],
        "datacontenttype": "application/json",
        "data": {
            "channel": "hotline",
            "category": category,
            "severity": severity,
            "title": f"{category} at {micro}",
            "location": {"district": micro[:6], "street": micro[:9], "micro_grid": micro},
            **data,
        },
    }


def an_action(verb: str, incident_id: str, department: str, **data) -> dict:
    return {
        "specversion": "1.0",
        "id": f"a-{uuid.uuid4().hex}",
        "source": f"/departments/{department}",
        "type": f"city.incident.{verb}.v1",
        "time": _now(),
        "partitionkey": incident_id.split("-")[0],
        "datacontenttype": "application/json",
        "data": {"incident_id": incident_id, "department": department, "actor": "duty-1", **data},
    }


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def incident_of(stack: Stack, report_id: str) -> str:
    return stack.wait(
        f"an incident for report {report_id}",
        lambda: stack.q("SELECT incident_id FROM {db}.events WHERE id = %(id)s", {"id": report_id}),
    )[0][0]


def status_of(stack: Stack, incident_id: str):
    rows = stack.q(
        "SELECT status, level, escalations, breaches, repeat_count, reopened "
        "FROM {db}.incidents_current WHERE incident_id = %(i)s",
        {"i": incident_id},
    )
    return rows[0] if rows else None


def timeline(stack: Stack, incident_id: str) -> list[str]:
    rows = stack.q(
        "SELECT seq, any(kind) FROM {db}.incident_transitions "
        "WHERE incident_id = %(i)s GROUP BY seq ORDER BY seq",
        {"i": incident_id},
    )
    return [kind for _, kind in rows]


def act_and_wait(stack: Stack, event: dict, status: str, incident_id: str) -> None:
    stack.send(event)
    stack.wait(
        f"incident {incident_id} to reach {status} after {event['type']}",
        lambda: (s := status_of(stack, incident_id)) and s[0] == status,
    )


# -- (a) ----------------------------------------------------------------------------------------
def test_incident_whole_life_with_sla_breach_and_escalation(engine):
    report = a_report("gas_leak", 3, "3201050010010102")  # 30 min to accept = 3 s here
    engine.send(report)
    incident = incident_of(engine, report["id"])
    engine.wait(
        "the accept deadline to be breached and the incident escalated",
        lambda: (s := status_of(engine, incident)) and s[2] >= 1 and s[3] >= 1,
    )
    # street → district at the first escalation (a slow run may pass the resolve deadline too,
    # which escalates once more: the first escalation's level is what this scenario checks)
    first = engine.q(
        "SELECT any(level) FROM {db}.incident_transitions WHERE incident_id = %(i)s "
        "AND kind = 'escalated' GROUP BY seq ORDER BY seq LIMIT 1",
        {"i": incident},
    )
    assert first == [("district",)], first
    act_and_wait(engine, an_action("accept", incident, "gas"), "accepted", incident)
    act_and_wait(engine, an_action("progress", incident, "gas"), "in_progress", incident)
    for dept in ("fire_rescue", "emergency", "public_security"):  # severity 3: joint
        engine.send(an_action("accept", incident, dept))
        engine.send(an_action("resolve", incident, dept))
    act_and_wait(engine, an_action("resolve", incident, "gas"), "resolved", incident)
    act_and_wait(
        engine, an_action("feedback", incident, "hotline12345", satisfied=True), "closed", incident
    )
    kinds = timeline(engine, incident)
    assert kinds[:4] == ["opened", "dispatched", "sla_breached", "escalated"], kinds
    expected = ["accepted", "progress", "lead_resolved", "resolved", "closed"]
    assert [k for k in kinds if k in expected] == expected, kinds


# -- (b) ----------------------------------------------------------------------------------------
def test_joint_incident_with_three_departments(engine):
    report = a_report("waterlogging", 3, "3201050010010103")
    engine.send(report)
    incident = incident_of(engine, report["id"])
    tasks = engine.wait(
        "three department tasks",
        lambda: engine.q(
            "SELECT department, argMax(role, version) FROM {db}.dept_tasks "
            "WHERE incident_id = %(i)s GROUP BY department ORDER BY department",
            {"i": incident},
        ),
    )
    assert tasks == [("traffic_police", "assist"), ("urban_mgmt", "assist"), ("water", "lead")]
    act_and_wait(engine, an_action("accept", incident, "water"), "accepted", incident)
    engine.send(
        an_action("accept", incident, "urban_mgmt"), an_action("accept", incident, "traffic_police")
    )
    engine.send(an_action("resolve", incident, "urban_mgmt"))
    engine.send(an_action("resolve", incident, "water"))  # waits for traffic_police
    engine.wait(
        "the lead's resolution to be recorded",
        lambda: "lead_resolved" in timeline(engine, incident),
    )
    assert status_of(engine, incident)[0] == "accepted"
    act_and_wait(engine, an_action("resolve", incident, "traffic_police"), "resolved", incident)
    done = engine.q(
        "SELECT department, argMax(status, version), argMax(role, version) FROM {db}.dept_tasks "
        "WHERE incident_id = %(i)s GROUP BY department",
        {"i": incident},
    )
    # the handling departments are done; the hotline's callback (回访) task now waits
    assert {status for _, status, role in done if role != "callback"} == {"done"}
    assert [(d, s) for d, s, role in done if role == "callback"] == [("hotline12345", "assigned")]


# -- (c) ----------------------------------------------------------------------------------------
def test_repeat_complaint_after_closing_reopens_it(engine):
    micro = "3201050010010104"
    first = a_report("noise", 1, micro)
    engine.send(first)
    incident = incident_of(engine, first["id"])
    act_and_wait(engine, an_action("accept", incident, "ecology_env"), "accepted", incident)
    act_and_wait(engine, an_action("resolve", incident, "ecology_env"), "resolved", incident)
    act_and_wait(
        engine, an_action("feedback", incident, "hotline12345", satisfied=True), "closed", incident
    )
    again = a_report("noise", 1, micro)
    engine.send(again)
    engine.wait(
        "the repeat report to reopen the incident",
        lambda: (s := status_of(engine, incident)) and s[0] == "reopened",
    )
    status, _, _, _, repeat_count, reopened = status_of(engine, incident)
    assert (repeat_count, reopened) == (1, 1)
    assert engine.q(
        "SELECT incident_id FROM {db}.events WHERE id = %(id)s", {"id": again["id"]}
    ) == [(incident,)]


# -- (d) ----------------------------------------------------------------------------------------
def test_valid_and_invalid_events_are_stored_and_rejected_with_reasons(engine):
    run = uuid.uuid4().hex[:6]
    valid = sample_reports(1000, seed=3, run=f"d{run}")
    invalid = []
    for i in range(100):
        body = orjson.loads(valid[i][1])
        body["id"] = f"bad{run}-{i}"
        if i % 3 == 0:
            body["data"]["severity"] = 9
        elif i % 3 == 1:
            body["data"]["category"] = "no_such_category"
        else:
            body = b"{not json" + str(i).encode()
        invalid.append((b"x", body if isinstance(body, bytes) else orjson.dumps(body)))
    engine.send(*valid, *invalid)
    engine.wait(
        "1,000 valid events stored",
        lambda: (
            engine.q(
                "SELECT uniqExact(id) FROM {db}.events WHERE id LIKE %(p)s", {"p": f"d{run}-%"}
            )[0][0]
            == 1000
        ),
        timeout=90,
    )
    rejected = engine.wait(
        "100 rejected events",
        lambda: (
            (
                r := engine.q(
                    "SELECT uniqExact(reject_id), countIf(reason = '') FROM {db}.rejected_events "
                    "WHERE event_id LIKE %(p)s OR raw LIKE '{not json%%'",
                    {"p": f"bad{run}-%"},
                )
            )
            and r[0][0] >= 100
            and r
        ),
    )
    assert rejected[0] == (100, 0)
    assert engine.q(
        "SELECT count() FROM {db}.events WHERE id LIKE %(p)s", {"p": f"bad{run}-%"}
    ) == [(0,)]


# -- (e) ----------------------------------------------------------------------------------------
def in_one_order(pairs):
    """`pairs` with every report of a district-scope category (gas leak, fire, waterlogging)
    keyed by its district instead of its street.

    Such a matter's reports come from many streets, so from several city.events partitions,
    and the first report to arrive opens the incident the others are compared with: the
    grouping follows the arrival order, which across partitions is not the send order. One key
    per district puts them on one partition, in send order, so that `expected_incidents`
    (which applies them in send order) is exact. Street-scope reports keep their street key."""
    from cityops.streams.incidents.policy import load_policy

    policy = load_policy()
    out = []
    for key, value in pairs:
        data = orjson.loads(value)["data"]
        if policy.repeat_rule(data["category"]).scope == "district":
            key = data["location"]["district"].encode()
        out.append((key, value))
    return out


def expected_incidents(pairs) -> int:
    """The incident count of an uninterrupted run: the engine's own logic, in process."""
    from cityops.schemas.registry import load_registry
    from cityops.streams.clock import Clock
    from cityops.streams.incidents.engine import Engine
    from cityops.streams.incidents.policy import load_policy
    from cityops.streams.intake import to_item

    class Rows:
        pending = 0

        def add(self, table, row):
            pass

    policy = load_policy()
    engine = Engine({}, {}, Rows(), Topics(""), 4, policy)
    now = datetime.now(UTC)
    for i, (key, value) in enumerate(pairs):
        _, item = to_item(
            value,
            None,
            key,
            0,
            f"x/{i}",
            now=now,
            clock=Clock(),
            registry=load_registry(),
            policy=policy,  # as the worker's bridge: wide categories by their district
        )
        engine.apply(0, [item])
        incidents, repeats = engine.table_writes()
        for items in incidents.values():
            engine.incidents.update(items)
        for items in repeats.values():
            engine.repeats.update(items)
    return len(engine.incidents)


def test_sigkill_mid_stream_then_restart_stores_every_event_once(request, services, tmp_path):
    stack = make_stack(request, services.bootstrap, services.clickhouse, tmp_path)
    pairs = in_one_order(sample_reports(20_000, seed=11, run=f"k{uuid.uuid4().hex[:6]}"))
    try:
        stack.send(*pairs)
        stack.start()
        stack.wait(
            "some events stored before the kill",
            lambda: stack.q("SELECT count() FROM {db}.events")[0][0] >= 3000,
            timeout=120,
        )
        stack.stop(signal.SIGKILL)  # the worker's process group: engine and bridge
        stored_at_kill = stack.q("SELECT uniqExact(id) FROM {db}.events")[0][0]
        assert stored_at_kill < 20_000, "the kill came too late to test anything"
        stack.start()
        stack.wait(
            "all 20,000 event ids stored after the restart",
            lambda: stack.q("SELECT uniqExact(id) FROM {db}.events")[0][0] == 20_000,
            timeout=180,
        )
        # A stop (SIGTERM to the process group, as Ctrl+C or `cityops down` sends it) ends the
        # worker by itself, without restarting its bridge on the way out.
        assert stack.stop() == 0, svc.log_tail(stack.log, 30)
        assert "restarting" not in stack.log.read_text().split("Signal received")[-1]
    finally:
        stack.stop()
    assert stack.q("SELECT count() FROM {db}.events FINAL") == [(20_000,)]
    incidents = stack.q("SELECT uniqExact(incident_id) FROM {db}.incidents")[0][0]
    assert incidents == expected_incidents(pairs)
    stack.ch.disconnect()


# -- (f) ----------------------------------------------------------------------------------------
def test_clickhouse_down_for_30_seconds_loses_nothing(services, private_clickhouse, tmp_path):
    stack = make_stack(None, services.bootstrap, private_clickhouse.target, tmp_path)
    run = f"f{uuid.uuid4().hex[:6]}"
    first, second = (
        sample_reports(4000, seed=5, run=run)[:2000],
        sample_reports(4000, seed=5, run=run)[2000:],
    )
    try:
        stack.start()
        stack.send(*first)
        stack.wait(
            "the first 2,000 events stored",
            lambda: stack.q("SELECT uniqExact(id) FROM {db}.events")[0][0] == 2000,
            timeout=90,
        )
        private_clickhouse.stop()
        stack.ch.disconnect()
        stack.send(*second)
        try:  # the outage itself is the scenario: 30 s, which the worker must live through
            code = stack.worker.wait(30)
        except subprocess.TimeoutExpired:
            pass
        else:
            pytest.fail(f"worker exited ({code}) during the outage:\n{svc.log_tail(stack.log, 30)}")
        private_clickhouse.start()
        stack.wait(
            "all 4,000 events stored after ClickHouse returned",
            lambda: stack.q("SELECT uniqExact(id) FROM {db}.events")[0][0] == 4000,
            timeout=90,
        )
    finally:
        stack.stop()
    assert stack.q("SELECT count() FROM {db}.events FINAL") == [(4000,)]


# -- (g) ----------------------------------------------------------------------------------------
def test_a_second_worker_joins_and_leaves_mid_stream_and_nothing_is_lost(
    request, services, tmp_path
):
    first = make_stack(request, services.bootstrap, services.clickhouse, tmp_path)
    second = Stack(first.settings, first.ch, tmp_path / "worker-2.log")
    pairs = in_one_order(sample_reports(12_000, seed=13, run=f"g{uuid.uuid4().hex[:6]}"))
    try:
        first.start()
        first.send(*pairs[:6000])
        first.wait(
            "some events stored by the first worker",
            lambda: first.q("SELECT count() FROM {db}.events")[0][0] >= 1000,
            timeout=120,
        )
        second.start()  # the group rebalances: partitions move to the second worker
        first.send(*pairs[6000:])
        first.wait(
            "the second worker applying bundles",
            lambda: "first bundle at offset" in second.log.read_text(),
            timeout=120,
        )
        assert second.stop() == 0, svc.log_tail(second.log, 30)  # and back again
        first.wait(
            "all 12,000 event ids stored",
            lambda: first.q("SELECT uniqExact(id) FROM {db}.events")[0][0] == 12_000,
            timeout=180,
        )
        # The first worker went through two rebalances and kept its intake bridge running.
        assert "intake bridge process exited" not in first.log.read_text()
        assert first.stop() == 0, svc.log_tail(first.log, 30)
    finally:
        second.stop()
        first.stop()
    assert first.q("SELECT count() FROM {db}.events FINAL") == [(12_000,)]
    assert first.q("SELECT uniqExact(incident_id) FROM {db}.incidents")[0][0] == (
        expected_incidents(pairs)
    )
    first.ch.disconnect()
