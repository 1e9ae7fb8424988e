"""Attacks on the HTTP gateway from another department's key (CONTRACT §8): with the `gas` key,
an action in the traffic police's name gets 403 with problem details, in every binding mode, and
nothing reaches the bus; gas acting in its own name still goes through."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from cityops.sdk import action, complete
from tests.integration.test_gateway import BATCH, ids_in_kafka, start_gateway, stop_gateway

INCIDENT = "320105005-0a1b2c3d4e5f6071"


@pytest.fixture
def gateway(isolated, tmp_path):
    """A gateway (gunicorn) for this test's topics."""
    gw = start_gateway(isolated.env, isolated.settings.home, tmp_path / "gateway.log")
    yield gw
    stop_gateway(gw)


def an_action(verb: str, department: str, event_id: str, sender: str = "gas", **extra) -> dict:
    """A `verb` action in `department`'s name, sent from `sender`'s source."""
    event = action(verb, INCIDENT, department=department, id=event_id, **extra)
    return complete(event, sender, now=datetime.now(UTC))


def assert_forbidden(response, *paths: str) -> dict:
    assert response.status_code == 403, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 403 and problem["type"] and problem["title"] == "Forbidden"
    assert [e["path"] for e in problem["errors"]] == list(paths)
    return problem


def test_the_gas_key_cannot_act_in_the_traffic_polices_name(gateway, isolated):
    key = gateway.key("gas")
    for verb, extra in (
        ("accept", {}),
        ("resolve", {}),
        ("feedback", {"satisfied": True}),
        ("assist", {"departments": ["health"]}),
    ):
        forged = an_action(verb, "traffic_police", f"forged-{verb}", **extra)
        problem = assert_forbidden(gateway.post(key, forged), "data.department")
        assert "traffic_police" in problem["errors"][0]["detail"]
        assert "/departments/gas" in problem["errors"][0]["detail"]
    ok = gateway.post(key, an_action("note", "gas", "gas-own-note"))
    assert ok.status_code == 202, ok.text
    assert ids_in_kafka(isolated, 1) == ["gas-own-note"]  # and none of the forged ones


def test_a_forged_action_in_a_batch_rejects_the_whole_batch(gateway, isolated):
    key = gateway.key("gas")
    batch = [
        an_action("note", "gas", "batch-own"),
        an_action("accept", "traffic_police", "batch-forged"),
    ]
    problem = assert_forbidden(gateway.post(key, batch, BATCH), "data.department")
    assert problem["errors"][0]["index"] == 1
    ok = gateway.post(key, an_action("note", "gas", "after-batch"))
    assert ok.status_code == 202
    assert ids_in_kafka(isolated, 1) == ["after-batch"]


def test_binary_mode_cannot_act_in_another_name_either(gateway, isolated):
    key = gateway.key("gas")
    event = an_action("accept", "traffic_police", "binary-forged")
    headers = {f"ce-{k}": v for k, v in event.items() if k not in ("data", "datacontenttype")}
    response = gateway.post(key, orjson.dumps(event["data"]), "application/json", headers)
    assert_forbidden(response, "data.department")
    ok = gateway.post(key, an_action("note", "gas", "binary-after"))
    assert ok.status_code == 202
    assert ids_in_kafka(isolated, 1) == ["binary-after"]


def a_reading(event_id: str, source: str) -> dict:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": f"/departments/{source}",
        "type": "city.reading.v1",
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "sensor_id": "WL-JY-0012",
            "metric": "water_level",
            "value": 0.05,
            "unit": "m",
            "location": {"district": "320105", "street": "320105001"},
        },
    }


def test_the_water_key_cannot_publish_readings_in_iots_name(gateway, isolated):
    """A low reading in iot's name would clear iot's water-level alarm: refused, nothing sent;
    iot's own key publishes its readings."""
    forged = gateway.post(gateway.key("water"), a_reading("forged-reading", "iot"))
    problem = forged.json()
    assert forged.status_code == 403, forged.text
    assert [e["path"] for e in problem["errors"]] == ["source"]
    ok = gateway.post(gateway.key("iot"), a_reading("iot-own-reading", "iot"))
    assert ok.status_code == 202, ok.text
    assert ids_in_kafka(isolated, 1) == ["iot-own-reading"]  # and not the forged one


def test_a_department_key_cannot_merge_in_the_desks_name(gateway, isolated):
    """并单 is the district desk's: the gas key naming desk_320105 gets 403, nothing published."""
    key = gateway.key("gas")
    into = "320105005-0000000000000001"
    forged = an_action("merge", "desk_320105", "forged-merge", into=into)
    problem = assert_forbidden(gateway.post(key, forged), "data.department")
    assert "desk_320105" in problem["errors"][0]["detail"]
    ok = gateway.post(key, an_action("note", "gas", "after-merge"))
    assert ok.status_code == 202, ok.text
    assert ids_in_kafka(isolated, 1) == ["after-merge"]  # and not the forged merge
