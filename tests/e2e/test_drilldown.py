"""The duty officer's pages in a real Chromium: filtering the list, an incident's timeline, actions
published as CloudEvents, and who may reach what (login, district scope, kiosk)."""

from __future__ import annotations

import json
import time

from kafka import KafkaConsumer, TopicPartition

from cityops.dashboard import ids
from tests.e2e.builders import a_task, a_transition, an_event, an_incident, insert
from tests.e2e.conftest import login
from tests.waiting import wait_until


def some_incidents(ch, now: int) -> None:
    """Four water-main incidents in Jianye (320105), two road incidents in Xuanwu (320102);
    inc-w0 has a timeline of three steps, a task per department and a repeat report."""
    rows = [
        an_incident(
            incident_id=f"inc-w{i}",
            reported_at=now - 600 * (i + 1),
            title=f"水管爆裂 {i}",
            category="water_leak",
            district="320105",
            street="320105001",
        )
        for i in range(4)
    ]
    rows += [
        an_incident(
            incident_id=f"inc-r{i}",
            reported_at=now - 600 * (i + 1),
            title=f"路面坑洼 {i}",
            district="320102",
            street="320102001",
        )
        for i in range(2)
    ]
    rows.append(
        an_incident(
            incident_id="inc-x",
            reported_at=now - 100,
            district="320105",
            title="<script>alert(1)</script>",
            street="320105001",
        )
    )
    insert(ch, "incidents", rows)
    insert(
        ch,
        "incident_transitions",
        [
            a_transition(
                incident_id="inc-w0", seq=1, at=now - 600, kind="opened", to_status="reported"
            ),
            a_transition(
                incident_id="inc-w0",
                seq=2,
                at=now - 590,
                kind="dispatched",
                from_status="reported",
                to_status="dispatched",
                department="water",
            ),
            a_transition(
                incident_id="inc-w0",
                seq=3,
                at=now - 300,
                kind="accepted",
                from_status="dispatched",
                to_status="accepted",
                department="water",
                actor="王师傅",
            ),
        ],
    )
    insert(
        ch,
        "dept_tasks",
        [
            a_task(incident_id="inc-w0", department="water", assigned_at=now - 590),
            a_task(
                incident_id="inc-w0", department="urban_mgmt", role="assist", assigned_at=now - 590
            ),
        ],
    )
    insert(
        ch,
        "events",
        [
            an_event(id="ev-w0", time=now - 600, incident_id="inc-w0", title="水管爆裂 0"),
            an_event(id="ev-w0-again", time=now - 400, incident_id="inc-w0", title="又在漏水"),
        ],
    )


def count_text(page) -> str:
    return page.locator(f"#{ids.INCIDENT_COUNT}").inner_text()


def test_a_filter_narrows_the_list(isolated, dashboard, page, artifacts_dir):
    some_incidents(isolated.ch, int(time.time()))
    login(page, dashboard, "admin")
    page.wait_for_function("document.querySelectorAll('.incident-row').length === 7")
    page.fill(f"#{ids.FILTER_TEXT}", "水管")
    page.press(f"#{ids.FILTER_TEXT}", "Enter")
    page.wait_for_function("document.querySelectorAll('.incident-row').length === 4")
    titles = page.locator(".incident-row .title-cell").all_inner_texts()
    assert all("水管" in t for t in titles)
    page.screenshot(path=str(artifacts_dir / "incidents-filtered.png"))


def test_an_officer_sees_only_their_district(isolated, dashboard, page):
    some_incidents(isolated.ch, int(time.time()))
    login(page, dashboard, "xuanwu")
    page.wait_for_function("document.querySelectorAll('.incident-row').length === 2")
    page.goto(f"{dashboard.url}/incidents/inc-w0")
    page.wait_for_selector(".denied")
    assert page.locator(f"#{ids.TIMELINE}").count() == 0


def test_an_incident_page_shows_its_timeline(isolated, dashboard, page, artifacts_dir):
    some_incidents(isolated.ch, int(time.time()))
    login(page, dashboard, "jianye", next_path="/incidents/inc-w0")
    page.wait_for_selector(f"#{ids.TIMELINE} .tl-item")
    assert page.locator(f"#{ids.TIMELINE} .tl-item").count() == 3
    assert "王师傅" in page.locator(f"#{ids.TIMELINE}").inner_text()
    assert page.locator(f"#{ids.TASKS} tr").count() == 3
    assert page.locator(f"#{ids.REPEATS} li").count() == 1
    assert page.locator(f"#{ids.RAW_EVENTS} details").count() == 2
    assert "剩余" in page.locator(f"#{ids.DEADLINES}").inner_text()
    page.screenshot(path=str(artifacts_dir / "incident-page.png"), full_page=True)


def test_an_incident_title_is_shown_as_text(isolated, dashboard, page):
    some_incidents(isolated.ch, int(time.time()))
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, dashboard, "admin", next_path="/incidents/inc-x")
    page.wait_for_selector(".incident-title")
    assert page.locator(".incident-title").inner_text() == "<script>alert(1)</script>"
    assert dialogs == []


def read_events(bootstrap: str, topic: str, timeout: float = 15.0) -> list[dict]:
    """The events on `topic`, once there is at least one."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=1000
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        found: list[dict] = []

        def polled() -> list[dict]:  # the poll's own 500 ms wait is the interval
            for records in consumer.poll(timeout_ms=500).values():
                found.extend(json.loads(r.value) for r in records)
            return found

        return wait_until(polled, timeout, f"an event on {topic}", interval=0)
    finally:
        consumer.close()


def records_on(bootstrap: str, topic: str) -> int:
    """How many records `topic` holds now. The dashboard publishes an action before it answers
    (it waits for the broker's ack), so a request that published has done so by its answer."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def test_an_action_publishes_a_cloudevent(isolated, services, dashboard, page):
    some_incidents(isolated.ch, int(time.time()))
    login(page, dashboard, "jianye", next_path="/incidents/inc-w0")
    page.fill(f"#{ids.ACTION_COMMENT}", "请尽快处置")
    page.click(".action-urge")
    page.wait_for_selector(f"#{ids.ACTION_RESULT} .ok")
    events = read_events(services.bootstrap, isolated.topics.events)
    assert len(events) == 1
    assert records_on(services.bootstrap, isolated.topics.events) == 1  # what the kiosk test uses
    event = events[0]
    assert event["specversion"] == "1.0"
    assert event["type"] == "city.incident.note.v1"
    assert event["source"] == "/departments/desk_320105"
    assert event["partitionkey"] == "320105001"
    assert event["data"] == {
        "incident_id": "inc-w0",
        "department": "desk_320105",
        "actor": "jianye",
        "comment": "请尽快处置",
        "action": "urge",
    }


def test_login_is_required_for_actions(isolated, dashboard, page):
    some_incidents(isolated.ch, int(time.time()))
    page.goto(f"{dashboard.url}/incidents/inc-w0")
    page.wait_for_selector("#login-username")
    assert "/login" in page.url
    response = page.request.post(f"{dashboard.url}/_dash-update-component", data={})
    assert response.status == 401


def test_the_kiosk_token_cannot_reach_actions(isolated, services, dashboard, page):
    some_incidents(isolated.ch, int(time.time()))
    page.goto(dashboard.wall_url())
    page.wait_for_selector(f"#{ids.KPI_OPEN}")
    page.goto(f"{dashboard.url}/incidents/inc-w0?kiosk={dashboard.kiosk_token}")
    page.wait_for_selector("#login-username")
    # a forged action callback from the kiosk session is refused and publishes nothing
    payload = {
        "output": f"{ids.ACTION_RESULT}.children",
        "outputs": {"id": ids.ACTION_RESULT, "property": "children"},
        "inputs": [
            [
                {
                    "id": {"action": "escalate", "type": "incident-action"},
                    "property": "n_clicks",
                    "value": 1,
                }
            ]
        ],
        "changedPropIds": ['{"action":"escalate","type":"incident-action"}.n_clicks'],
        "state": [
            {"id": ids.ACTION_COMMENT, "property": "value", "value": "x"},
            {"id": "incident-key", "property": "data", "value": "inc-w0"},
        ],
    }
    response = page.request.post(f"{dashboard.url}/_dash-update-component", data=payload)
    assert "登录" in response.text() or response.status in (401, 403)
    assert records_on(services.bootstrap, isolated.topics.events) == 0
