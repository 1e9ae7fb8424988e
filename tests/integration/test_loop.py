"""Closing the loop end to end on a real broker, ClickHouse and worker (CONTRACT §11): the
callback task at resolution on city.tasks.<dept> and in dept_tasks, an unsolved answer reopening
with the same lead, the overdue callback as its own state, returns within and after the window,
the desk's reassignment, the measures and the audit on 18.16, and the attacks on each from the
side of another department or district (refused with the reason, the incident unchanged)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from cityops.schemas.topics import Topics
from cityops.storage import incident_pages, loop_queries
from tests.integration.test_authz_engine import forged, rejection_of
from tests.integration.test_engine import (
    Stack,
    a_report,
    act_and_wait,
    an_action,
    incident_of,
    make_stack,
    status_of,
    timeline,
)

# At the test clock (600×) the callback is due 12 s after resolution, a return may come up to
# 18 s after assignment.
POLICY = """
[actions]
citizen_facing = ["hotline12345"]
[callback]
channels = ["hotline", "app"]
within = "2h"
[returns]
window = "3h"
sla_clock = "paused"
"""
LEAD = "ecology_env"  # the lead of a noise complaint
DESK = "desk_320105"


@pytest.fixture(scope="module")
def engine(request, services, tmp_path_factory):
    home = tmp_path_factory.mktemp("loop")
    policy = home / "policy.toml"
    policy.write_text(POLICY)
    stack = make_stack(request, services.bootstrap, services.clickhouse, home, policy_file=policy)
    stack.start()
    # the worker applying events before the scenarios start: a return's window counts from the
    # dispatch on event time, which a slow start would otherwise eat
    noise(stack, "3201050010010101")
    yield stack
    stack.stop()
    stack.ch.disconnect()


def noise(stack: Stack, micro: str) -> str:
    report = a_report("noise", 1, micro)
    stack.send(report)
    incident = incident_of(stack, report["id"])
    stack.wait("the incident dispatched", lambda: (s := status_of(stack, incident)) and s[0])
    return incident


def counted_return(stack: Stack, incident: str) -> None:
    """Waits for the incident's first return to count (failing at once, with the reason, when the
    engine refused it)."""

    def counted() -> bool:
        refused = stack.q(
            "SELECT reason FROM {db}.rejected_events "
            "WHERE type = 'city.incident.return.v1' AND raw LIKE %(i)s",
            {"i": f"%{incident}%"},
        )
        if refused:
            pytest.fail(f"the return of {incident} was refused: {refused}")
        return loop_of(stack, incident)[2] == 1

    stack.wait("the return counted", counted)


def loop_of(stack: Stack, incident: str):
    rows = stack.q(
        "SELECT argMax(callback, version), argMax(unsolved, version), argMax(returns, version), "
        "argMax(lead_department, version), argMax(supervision, version) "
        "FROM {db}.incidents WHERE incident_id = %(i)s",
        {"i": incident},
    )
    return rows[0]


def task_messages(stack: Stack, department: str, incident: str) -> list[dict]:
    topic = Topics(stack.settings.topic_prefix).tasks(department)
    consumer = KafkaConsumer(bootstrap_servers=stack.settings.bootstrap, consumer_timeout_ms=500)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in parts])
        consumer.seek_to_beginning()
        found = []
        for message in consumer:
            data = orjson.loads(message.value)["data"]
            if data["incident_id"] == incident:
                found.append(data)
        return found
    finally:
        consumer.close()


def test_callback_task_unsolved_answer_reopens_then_solved_closes(engine):
    incident = noise(engine, "3201050010010301")
    act_and_wait(engine, an_action("accept", incident, LEAD), "accepted", incident)
    act_and_wait(engine, an_action("resolve", incident, LEAD), "resolved", incident)
    engine.wait(
        "a callback dept_tasks row for hotline12345",
        lambda: (
            engine.q(
                "SELECT argMax(role, version), argMax(status, version) FROM {db}.dept_tasks "
                "WHERE incident_id = %(i)s AND department = 'hotline12345' GROUP BY department",
                {"i": incident},
            )
            == [("callback", "assigned")]
        ),
    )
    tasks = engine.wait(
        "a callback task on city.tasks.hotline12345",
        lambda: [
            t for t in task_messages(engine, "hotline12345", incident) if t["kind"] == "callback"
        ],
    )
    assert tasks[0]["role"] == "callback"
    assert loop_of(engine, incident)[0] == "pending"
    unsolved = an_action("feedback", incident, "hotline12345", resolved=False, satisfied=False)
    act_and_wait(engine, unsolved, "reopened", incident)
    callback, count, _, lead, supervision = loop_of(engine, incident)
    assert (callback, count, lead, supervision) == ("unsolved", 1, LEAD, "community")
    act_and_wait(engine, an_action("accept", incident, LEAD), "accepted", incident)
    act_and_wait(engine, an_action("resolve", incident, LEAD), "resolved", incident)
    solved = an_action("feedback", incident, "hotline12345", resolved=True, satisfied=True)
    act_and_wait(engine, solved, "closed", incident)
    assert loop_of(engine, incident)[:2] == ("solved", 1)
    since = datetime.now(UTC) - timedelta(days=1)
    by_street = {
        r["key"]: r for r in loop_queries.loop_rates(engine.ch, engine.db, "street", since)
    }
    row = by_street["320105001"]
    assert row["closed"] >= 1 and row["answered"] >= 1
    # closed, but once reported unsolved: not confirmed solved
    assert row["confirmed_solved"] < row["closed"]


def test_no_answer_by_the_deadline_leaves_it_callback_overdue(engine):
    incident = noise(engine, "3201050010010302")
    act_and_wait(engine, an_action("accept", incident, LEAD), "accepted", incident)
    act_and_wait(engine, an_action("resolve", incident, LEAD), "resolved", incident)
    engine.wait(
        "the callback deadline to pass unanswered",
        lambda: (s := status_of(engine, incident)) and s[0] == "callback_overdue",
        timeout=90,
    )
    assert loop_of(engine, incident)[0] == "overdue"
    assert "callback_overdue" in timeline(engine, incident)


def test_return_then_reassignment_and_the_audit(engine):
    incident = noise(engine, "3201050010010303")
    returned = an_action("return", incident, LEAD, reason="位于小区内部 inside a compound")
    engine.send(returned)
    counted_return(engine, incident)
    # what the incident page shows while it waits (storage/incident_pages.py, from the state)
    page = incident_pages.incident(engine.ch, engine.db, incident)
    assert (page["returned_by"], page["return_reason"], page["returns"]) == (
        LEAD,
        "位于小区内部 inside a compound",
        1,
    )
    reasons = engine.q(
        "SELECT reason FROM {db}.incident_transitions WHERE incident_id = %(i)s "
        "AND kind = 'returned'",
        {"i": incident},
    )
    assert reasons[0] == ("位于小区内部 inside a compound",)
    engine.wait(
        "a review task on the district desk's queue",
        lambda: [t for t in task_messages(engine, DESK, incident) if t["kind"] == "return_review"],
    )
    engine.send(an_action("reassign", incident, DESK, to_department="housing", comment="物业"))
    engine.wait("the lead reassigned", lambda: loop_of(engine, incident)[3] == "housing")
    assert incident_pages.incident(engine.ch, engine.db, incident)["returned_by"] == ""
    act_and_wait(engine, an_action("accept", incident, "housing"), "accepted", incident)
    since = datetime.now(UTC) - timedelta(days=1)
    audit = {r["department"]: r for r in loop_queries.returns_audit(engine.ch, engine.db, since)}
    assert audit[LEAD]["reassigned"] >= 1


def test_a_late_return_is_refused_with_the_reason(engine):
    incident = noise(engine, "3201050010010304")
    # the engine clock must pass assignment + 3 h (18 s here)
    started = datetime.now(UTC)
    engine.wait(
        "the return window to pass on the engine clock",
        lambda: (datetime.now(UTC) - started).total_seconds() > 21,
        timeout=30,
    )
    late = an_action("return", incident, LEAD, reason="too late")
    engine.send(late)
    reason, path, _ = rejection_of(engine, late)
    assert reason.startswith("return window passed") and path == "data.incident_id"
    assert loop_of(engine, incident)[2] == 0


# -- attacks ---------------------------------------------------------------------------------------
def test_another_department_cannot_return_a_task_it_does_not_lead(engine):
    incident = noise(engine, "3201050010010305")
    attack = an_action("return", incident, "housing", reason="grab it")
    engine.send(attack)
    reason, path, source = rejection_of(engine, attack)
    assert reason.startswith("return only by the lead department") and path == "data.department"
    assert source == "/departments/housing" and loop_of(engine, incident)[2] == 0


def test_another_districts_desk_cannot_reassign(engine):
    incident = noise(engine, "3201050010010306")
    engine.send(an_action("return", incident, LEAD, reason="not ours"))
    counted_return(engine, incident)
    attack = an_action("reassign", incident, "desk_320102", to_department="housing")
    engine.send(attack)
    reason, path, _ = rejection_of(engine, attack)
    assert '"desk_320102" acts only on incidents of district 320102' in reason
    assert path == "data.department" and loop_of(engine, incident)[3] == LEAD
    outsider = an_action("reassign", incident, "housing", to_department="housing")
    engine.send(outsider)
    reason, _, _ = rejection_of(engine, outsider)
    assert reason.startswith("reassign only by the dispatch desk")
    assert loop_of(engine, incident)[3] == LEAD


def test_a_department_that_is_not_citizen_facing_cannot_answer_the_callback(engine):
    incident = noise(engine, "3201050010010105")
    act_and_wait(engine, an_action("accept", incident, LEAD), "accepted", incident)
    act_and_wait(engine, an_action("resolve", incident, LEAD), "resolved", incident)
    attack = an_action("feedback", incident, LEAD, resolved=True, satisfied=True)
    engine.send(attack)
    reason, path, _ = rejection_of(engine, attack)
    assert reason.startswith("feedback only from a citizen-facing department")
    assert (
        status_of(engine, incident)[0] == "resolved" and loop_of(engine, incident)[0] == "pending"
    )
    forged_answer = forged(
        "feedback", incident, "hotline12345", LEAD, resolved=True, satisfied=True
    )
    engine.send(forged_answer)
    reason, _, _ = rejection_of(engine, forged_answer)
    assert "is not the sender" in reason and status_of(engine, incident)[0] == "resolved"
