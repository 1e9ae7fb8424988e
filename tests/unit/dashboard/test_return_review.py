"""退单审核 on the incident page: who may decide a return (as which desk), the decision as a valid
city.incident.reassign.v1, and the panel shown only while a return waits, with its reason."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from cityops.dashboard import ids
from cityops.dashboard.actions import ActionPublisher, review_department, review_event
from cityops.dashboard.auth import User
from cityops.dashboard.pages.incident_review import review_panel
from tests.unit.cityops.test_sdk import FakeProducer

NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)

# (acting department, officer scope, incident district) -> the desk the decision is published as
WHO_DECIDES = [
    ("desk_320105", "320105", "320105", "desk_320105"),
    ("desk_320102", "320102", "320105", None),  # another district's desk
    ("hotline12345", None, "320105", "desk_320105"),  # a city-wide officer, for that district
    ("urban_mgmt", "320105", "320105", None),  # an officer acting as a handling department
    ("urban_mgmt", None, "320105", None),
]


@pytest.mark.parametrize("acting,scope,district,expected", WHO_DECIDES)
def test_only_the_districts_desk_decides(acting, scope, district, expected):
    assert review_department(acting, scope, district) == expected


@pytest.mark.parametrize("upheld,to", [(True, "ecology_env"), (False, "housing")])
def test_a_decision_is_a_valid_reassign_event(upheld, to):
    producer = FakeProducer()
    publisher = ActionPublisher("unused:0", "t.city.events", clock=lambda: NOW, producer=producer)
    event = review_event(
        incident_id="320105001-abc",
        partitionkey="320105001",
        department="desk_320105",
        actor="li",
        to_department=to,
        comment="",
        now=NOW,
        upheld=upheld,
    )
    publisher.publish(event)
    [(_, key, value, _)] = producer.sent
    sent = orjson.loads(value)
    assert key == b"320105001" and sent["type"] == "city.incident.reassign.v1"
    assert sent["data"]["to_department"] == to and sent["source"] == "/departments/desk_320105"
    assert ("维持" in sent["data"]["comment"]) is upheld


def _incident(**changes) -> dict:
    inc = {"district": "320105", "lead_department": "ecology_env", "returns": 1,
           "returned_by": "ecology_env", "return_reason": "位于小区内部"}  # fmt: skip
    return {**inc, **changes}


def _ids(component) -> set:
    found = set()
    stack = [component]
    while stack:
        node = stack.pop()
        if node is None or isinstance(node, str | int | float):
            continue
        if isinstance(node, list | tuple):
            stack.extend(node)
            continue
        if getattr(node, "id", None):
            found.add(node.id)
        stack.append(getattr(node, "children", None))
    return found


def test_the_panel_shows_while_a_return_waits_with_its_reason_and_both_answers():
    officer = User("li", "officer", district="320105")
    panel = review_panel(_incident(), officer)
    assert {ids.RETURN_REVIEW, ids.RETURN_REASON, ids.RETURN_REASSIGN, ids.RETURN_UPHOLD} <= _ids(
        panel
    )
    assert "位于小区内部" in str(panel)
    assert "退单审核" in str(panel) and "return review" in str(panel)
    assert review_panel(_incident(returned_by="", return_reason=""), officer) is None


def test_an_officer_who_may_not_decide_sees_the_reason_but_no_buttons():
    handler = User("wang", "officer", district="320105", department="urban_mgmt")
    panel = review_panel(_incident(), handler)
    assert ids.RETURN_REASON in _ids(panel)
    assert not {ids.RETURN_REASSIGN, ids.RETURN_UPHOLD} & _ids(panel)
