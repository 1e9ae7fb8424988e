"""The simulator's pure parts: the report generator and the departments' answers."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest

from cityops.schemas.events import parse_event
from cityops.streams.publish.simulator.lifecycle import plan
from cityops.streams.publish.simulator.run import generate
from cityops.streams.publish.simulator.scenarios import (
    FUZIMIAO_STREET,
    GAS_LEAK_COMMUNITY,
    SCENARIOS,
)
from cityops.streams.publish.tasks import Task, parse_task

START = datetime(2026, 7, 15, 9, 0, tzinfo=UTC)


def test_the_same_seed_gives_the_same_events():
    assert generate(42, "normal", START, 300) == generate(42, "normal", START, 300)
    assert generate(42, "normal", START, 50) != generate(43, "normal", START, 50)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_generated_event_is_valid(scenario):
    now = START
    for event in generate(7, scenario, START, 400):
        parse_event(orjson.dumps(event), now=now)


def test_rainstorm_surges_waterlogging_in_jianye_and_qinhuai():
    events = generate(1, "rainstorm", START, 1000)
    water = Counter(
        e["data"]["location"]["district"] for e in events if e["data"]["category"] == "waterlogging"
    )
    assert water["320105"] > water["320104"] > 100
    channels = Counter(
        e["data"]["channel"] for e in events if e["data"]["category"] == "waterlogging"
    )
    assert channels["sensor"] > 50 and channels["hotline"] > 50


def test_gas_leak_starts_with_one_extreme_report_and_repeats_around_it():
    events = generate(1, "gas-leak", START, 400)
    first = events[0]["data"]
    assert first["category"] == "gas_leak" and first["severity"] == 4
    assert first["location"]["community"] == GAS_LEAK_COMMUNITY
    around = [e for e in events[1:] if e["data"]["location"].get("community") == GAS_LEAK_COMMUNITY]
    assert len(around) > 20


def test_festival_crowds_are_at_fuzimiao():
    events = generate(1, "festival", START, 600)
    at_fuzimiao = [e for e in events if e["data"]["location"].get("street") == FUZIMIAO_STREET]
    assert len(at_fuzimiao) > 150
    assert any(e["data"]["category"] == "crowd_safety" for e in at_fuzimiao)


def test_hotline_volume_follows_the_day():
    def hotline_share(hour):
        start = datetime(2026, 7, 15, hour - 8, 0, tzinfo=UTC)  # local = UTC+8
        events = generate(3, "normal", start, 600, interval=1)
        return sum(e["data"]["channel"] == "grid_patrol" for e in events) / len(events)

    assert hotline_share(10) > 0.15 > hotline_share(23) == 0


def test_repeat_complaints_appear():
    events = generate(9, "normal", START, 1500)
    assert sum(e["data"]["title"].startswith("再次反映") for e in events) > 30


def a_task(**overrides) -> Task:
    fields = dict(
        incident_id="320105001-0011223344556677",
        department="water",
        role="lead",
        kind="assigned",
        category="waterlogging",
        severity=3,
        community="320105001001",
    )
    fields.update(overrides)
    return Task(**fields)


def test_department_answers_are_deterministic_and_valid():
    from cityops.sdk import Publisher

    class NoProducer:
        config: dict = {}

    first = plan(a_task(), START, 5, "normal")
    assert first == plan(a_task(), START, 5, "normal")
    pub = Publisher("unused:0", None, producer=NoProducer(), clock=lambda: START)
    for planned in first:
        pub.validate(planned.event)
    assert all(p.due >= START for p in first)


def test_rainstorm_waterlogging_is_accepted_within_a_minute():
    kinds = [
        (p.event["type"], (p.due - START).total_seconds())
        for p in plan(a_task(), START, 1, "rainstorm")
    ]
    assert kinds[0][0] == "city.incident.accept.v1" and kinds[0][1] <= 60


def test_the_gas_leak_lead_escalates_twice():
    planned = plan(
        a_task(department="gas", category="gas_leak", severity=4, community=GAS_LEAK_COMMUNITY),
        START,
        1,
        "gas-leak",
    )
    types = [p.event["type"] for p in planned]
    assert types.count("city.incident.escalate.v1") == 2


def test_an_assisting_department_accepts_and_resolves_its_part():
    types = [
        p.event["type"]
        for p in plan(a_task(role="assist", department="traffic_police"), START, 2, "normal")
    ]
    assert types in ([], ["city.incident.accept.v1", "city.incident.resolve.v1"])


def _answers(seeds: range) -> list[dict]:
    callback = a_task(department="hotline12345", role="callback", kind="callback", category="noise")
    return [
        p.event["data"]
        for seed in seeds
        for p in plan(callback, START, seed, "normal")
        if p.event["type"] == "city.incident.feedback.v1"
    ]


def test_callbacks_find_a_share_unsolved_a_share_unsatisfied_and_a_few_never_made():
    answers = _answers(range(1000))
    unsolved = sum(1 for a in answers if a["resolved"] is False) / len(answers)
    unsatisfied = sum(1 for a in answers if a["resolved"] and not a["satisfied"]) / len(answers)
    assert 0.07 < unsolved < 0.18 and 0.03 < unsatisfied < 0.14
    assert 0.95 * 1000 < len(answers) < 1000  # ~3 % never called back: callback_overdue
    assert all(a["department"] == "hotline12345" for a in answers)


def test_the_lead_no_longer_answers_for_the_citizen():
    types = {
        p.event["type"]
        for s in range(50)
        for p in plan(a_task(category="noise"), START, s, "normal")
    }
    assert "city.incident.feedback.v1" not in types


def test_some_leads_return_first_assignments_within_the_window_and_desks_decide():
    returns = [
        p
        for seed in range(1000)
        for p in plan(a_task(category="noise", severity=1), START, seed, "normal")
        if p.event["type"] == "city.incident.return.v1"
    ]
    assert 0.02 < len(returns) / 1000 < 0.07
    assert all(
        (p.due - START).total_seconds() <= 2 * 3600 and p.event["data"]["reason"] for p in returns
    )
    upheld = a_task(category="noise", data={"reason": "return not upheld: yours"})
    assert not any(
        p.event["type"] == "city.incident.return.v1"
        for seed in range(300)
        for p in plan(upheld, START, seed, "normal")
    )
    review = a_task(department="desk_320105", role="desk", kind="return_review", category="noise")
    decisions = [plan(review, START, seed, "normal")[0].event["data"] for seed in range(200)]
    kept = sum(1 for d in decisions if d["to_department"] == "ecology_env") / len(decisions)
    assert 0.4 < kept < 0.8 and all(d["department"] == "desk_320105" for d in decisions)


def test_returns_decisions_and_callbacks_are_valid_events():
    from cityops.sdk import Publisher

    class NoProducer:
        config: dict = {}

    sent_at = [START]  # each event is checked at the time it is due
    pub = Publisher("unused:0", None, producer=NoProducer(), clock=lambda: sent_at[0])
    review = a_task(department="desk_320105", role="desk", kind="return_review", category="noise")
    callback = a_task(department="hotline12345", role="callback", kind="callback")
    for task in (review, callback, a_task(category="noise", severity=1)):
        for seed in range(60):
            for planned in plan(task, START, seed, "normal"):
                sent_at[0] = planned.due
                pub.validate(planned.event)


def test_a_task_notice_is_parsed():
    value = orjson.dumps(
        {
            "specversion": "1.0",
            "type": "city.task.assigned.v1",
            "data": {
                "department": "water",
                "kind": "assigned",
                "incident_id": "320105001-aa",
                "role": "assist",
                "seq": 1,
            },
        }
    )
    task = parse_task("t.city.tasks.water", value)
    assert task.incident_id == "320105001-aa" and task.role == "assist" and task.open
    closed = parse_task("t.city.tasks.water", value.replace(b'"assigned"', b'"closed"'))
    assert not closed.open
    assert parse_task("t.city.tasks.water", b"not json") is None
