"""The simulator sends an unacknowledged event again with the same id."""

from __future__ import annotations

from cityops.streams.publish.simulator.resend import Resender


def an_event(n: int) -> dict:
    return {"id": f"sim-{n}", "type": "city.report"}


def test_a_failed_event_comes_back_once_with_its_id():
    resender = Resender()
    for n in range(5):
        resender.sent(an_event(n))
    resender.failed("sim-1")
    resender.failed("sim-3")
    assert [e["id"] for e in resender.due(10)] == ["sim-1", "sim-3"]
    assert resender.due(10) == []
    assert resender.resent == 2 and resender.lost == []


def test_due_is_limited_and_keeps_the_rest_in_order():
    resender = Resender()
    for n in range(4):
        resender.retry_later(an_event(n))
    assert [e["id"] for e in resender.due(3)] == ["sim-0", "sim-1", "sim-2"]
    assert resender.waiting == 1
    assert [e["id"] for e in resender.due(3)] == ["sim-3"]


def test_a_failure_of_a_forgotten_event_is_counted_as_lost():
    resender = Resender(keep=2)
    for n in range(3):
        resender.sent(an_event(n))
    resender.failed("sim-0")  # evicted: nothing to resend
    assert resender.due(10) == [] and resender.lost == ["sim-0"]
