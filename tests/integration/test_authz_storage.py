"""Event ids are unique per source only (CONTRACT §4, §8): another department may publish an event
with the id and time of a real one. The incident page's raw events (incident_events, against the
real ClickHouse) show the incident's own event, never the look-alike of another incident."""

from __future__ import annotations

import json
import time

import pytest

from cityops.storage import event_queries, incident_pages
from tests.e2e.builders import an_event, insert


@pytest.mark.parametrize("look_alike_first", [True, False])
def test_a_look_alike_event_of_another_incident_is_not_shown_on_this_one(
    isolated, look_alike_first
):
    now = int(time.time()) - 60
    real = an_event(id="evt-1", time=now, incident_id="320105001-real", title="真实上报")
    look_alike = an_event(
        id="evt-1",
        time=now,
        incident_id="320105001-squat",
        department="gas",
        title="<b>伪造</b>",
    )
    for row in [look_alike, real] if look_alike_first else [real, look_alike]:
        insert(isolated.ch, "events", [row])
    found = incident_pages.incident_events(
        isolated.ch, isolated.database, "320105001-real", since=now - 10
    )
    assert [(e["id"], e["source"]) for e in found] == [("evt-1", "/departments/hotline12345")]
    assert json.loads(found[0]["payload"])["data"]["title"] == "真实上报"
    scan = incident_pages.incident_events_scan(
        isolated.ch, isolated.database, "320105001-real", since=now - 10
    )
    assert found == scan


def test_a_look_alike_event_does_not_hide_the_real_one_in_the_ticker(isolated):
    now = int(time.time())
    real = an_event(id="evt-2", time=now - 5, title="真实上报")
    look_alike = an_event(id="evt-2", time=now - 1, department="gas", title="伪造")
    others = [an_event(id=f"other-{n}", time=now - 10 - n) for n in range(3)]
    insert(isolated.ch, "events", [real, look_alike, *others])
    feed = event_queries.latest_events(
        isolated.ch, isolated.database, since=now - 3600, limit=3, now=now
    )
    assert [(e["id"], e["department"], e["title"]) for e in feed] == [
        ("evt-2", "gas", "伪造"),
        ("evt-2", "hotline12345", "真实上报"),
        ("other-0", "hotline12345", "路面破损"),
    ]
