"""Early warning end to end (docs/early-warning.md) on a real Tansu broker, a real ClickHouse server
and a real worker: a water-level sensor over its threshold for the rule's duration opens exactly
one incident, which resolves when the reading clears; flapping opens no second one; a silent feed
opens one incident and it resolves when the feed returns; an invalid reading is rejected with
its reason; another department cannot clear iot's alarm. The engine clock runs 600× (one real
second is ten minutes), so reading times one real second apart are ten minutes apart."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from cityops.deploy import services as svc
from cityops.storage.feed_states import silent_feeds
from tests.integration.test_engine import MICRO, Stack, make_stack, status_of, timeline

RULES = """
[[rule]]
name = "waterlogging-level"
metric = "water_level"
above = 0.30
for_seconds = 600
clear = 0.20
category = "waterlogging"
severity = 3

[[feed]]
department = "video"
silent_after_seconds = 5      # real seconds, whatever the engine clock's speed
district = "320105"
"""


@pytest.fixture(scope="module")
def warning(request, services, tmp_path_factory):
    """One worker with the test's rules file."""
    home = tmp_path_factory.mktemp("early-warning")
    rules = home / "rules.toml"
    rules.write_text(RULES)
    stack = make_stack(request, services.bootstrap, services.clickhouse, home, rules_file=rules)
    stack.worker = svc.start_worker(stack.settings, stack.log)
    yield stack
    stack.stop()
    stack.ch.disconnect()


def a_reading(sensor: str, value, at: float, *, department: str = "iot", micro: str = MICRO):
    return {
        "specversion": "1.0",
        "id": f"rd-{uuid.uuid4().hex}",
        "source": f"/departments/{department}",
        "type": "city.reading.v1",
        "time": datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z"),
        "partitionkey": micro[:9],
        "data": {
            "sensor_id": sensor,
            "metric": "water_level",
            "value": value,
            "unit": "m",
            "location": {"district": micro[:6], "street": micro[:9], "micro_grid": micro},
        },
    }


def series(sensor: str, values: list[float], start: float, **kw) -> list[dict]:
    """Readings one real second (ten engine minutes) apart from `start` (the table keeps
    seconds: one reading per sensor and second)."""
    return [a_reading(sensor, v, start + i, **kw) for i, v in enumerate(values)]


def alarm_incidents(stack: Stack, sensor: str) -> list[str]:
    """The incidents the rule's reports for `sensor` went to (distinct)."""
    rows = stack.q(
        "SELECT DISTINCT incident_id FROM {db}.events WHERE id LIKE %(p)s",
        {"p": f"cityops:rule:waterlogging-level:iot/{sensor}:%"},
    )
    return sorted(r[0] for r in rows)


def one_incident(stack: Stack, sensor: str) -> str:
    found = stack.wait(f"the rule's incident for {sensor}", lambda: alarm_incidents(stack, sensor))
    assert len(found) == 1, found
    return found[0]


def stored_readings(stack: Stack, sensor: str, department: str = "iot") -> int:
    rows = stack.q(
        "SELECT count() FROM (SELECT DISTINCT sensor_id, time, metric, department "
        "FROM {db}.readings WHERE sensor_id = %(s)s AND department = %(d)s)",
        {"s": sensor, "d": department},
    )
    return rows[0][0]


def wait_status(stack: Stack, incident: str, status: str) -> None:
    stack.wait(
        f"incident {incident} to be {status}",
        lambda: (s := status_of(stack, incident)) is not None and s[0] == status,
    )


def test_water_level_over_its_threshold_for_the_duration_opens_one_incident_and_clears(warning):
    sensor = f"WL-{uuid.uuid4().hex[:8]}"
    start = time.time()
    # 0, 10, 20, 30 engine minutes over 0.30: raised at 10 (the rule's 600 s), peak 0.5 at 30
    warning.send(*series(sensor, [0.35, 0.36, 0.37, 0.5], start))
    incident = one_incident(warning, sensor)
    wait_status(warning, incident, "dispatched")
    warning.wait("the peak on the incident", lambda: peak_of(warning, incident) == 0.5)
    assert lead_of(warning, incident) == "water"

    warning.send(*series(sensor, [0.25, 0.15], start + 4))  # 0.25: above clear; 0.15: clears
    wait_status(warning, incident, "resolved")
    assert alarm_incidents(warning, sensor) == [incident]
    assert warning.wait("six readings stored", lambda: stored_readings(warning, sensor) == 6)
    assert count_incidents(warning, "waterlogging", sensor) == 1


def test_below_the_duration_no_incident_and_the_readings_are_stored(warning):
    sensor = f"WL-{uuid.uuid4().hex[:8]}"
    warning.send(*series(sensor, [0.4, 0.1, 0.4], time.time()))  # never 10 minutes in a row
    warning.wait("three readings stored", lambda: stored_readings(warning, sensor) == 3)
    assert alarm_incidents(warning, sensor) == []


def test_flapping_around_the_threshold_opens_no_second_incident(warning):
    sensor = f"WL-{uuid.uuid4().hex[:8]}"
    start = time.time()
    # Raised, then around 0.30 for 200 minutes, then a peak: the peak's report follows every
    # flapping reading's effect on the sensor's one path, so once it shows, they all have.
    flapping = [0.35, 0.35, 0.35] + [0.29, 0.31] * 10 + [0.6]
    warning.send(*series(sensor, flapping, start))
    incident = one_incident(warning, sensor)
    warning.wait("the peak after the flapping", lambda: peak_of(warning, incident) == 0.6)
    kinds = timeline(warning, incident)
    assert kinds.count("opened") == 1 and "cleared" not in kinds, kinds
    assert status_of(warning, incident)[0] == "dispatched"
    assert stored_readings(warning, sensor) == len(flapping)

    # Past the clear level, then a new episode: the same incident reopens, never a second.
    later = start + len(flapping)
    warning.send(*series(sensor, [0.1, 0.4, 0.4, 0.4], later))
    warning.wait(
        "the incident reopened by the new episode",
        lambda: (s := status_of(warning, incident)) is not None and s[0] == "reopened",
    )
    assert alarm_incidents(warning, sensor) == [incident]
    assert count_incidents(warning, "waterlogging", sensor) == 1


def test_a_silent_feed_opens_one_incident_that_resolves_when_data_returns(warning):
    warning.send(a_reading("VID-CAM-1", 0.0, time.time(), department="video"))
    incident = warning.wait(
        "a feed_silent incident for video",
        lambda: warning.q(
            "SELECT incident_id FROM {db}.incidents_current "
            "WHERE category = 'feed_silent' AND lead_department = 'video'"
        ),
        timeout=90,
    )[0][0]
    silent = warning.wait(
        "the feed's state: silent, since when",
        lambda: warning.q(
            "SELECT argMax(silent, version), argMax(silent_since, version) "
            "FROM {db}.feed_states WHERE department = 'video' HAVING argMax(silent, version) = 1"
        ),
    )
    assert silent[0][1] is not None
    # What the wall reads for its "since HH:MM" banner (storage/feed_states.py).
    assert [d for d, _ in silent_feeds(warning.ch, warning.db)] == ["video"]

    warning.send(a_reading("VID-CAM-1", 0.0, time.time(), department="video"))
    wait_status(warning, incident, "resolved")
    rows = warning.q(
        "SELECT uniqExact(incident_id) FROM {db}.incidents WHERE category = 'feed_silent'"
    )
    assert rows[0][0] == 1  # one incident for the silence, not one per missed beat
    warning.wait(
        "the feed's state back to live",
        lambda: (
            warning.q(
                "SELECT argMax(silent, version) FROM {db}.feed_states WHERE department = 'video'"
            )[0][0]
            == 0
        ),
    )


def test_an_invalid_reading_goes_to_rejected_with_its_reason(warning):
    bad = a_reading("WL-BAD", "high", time.time())
    warning.send(bad)
    rows = warning.wait(
        "the invalid reading in rejected_events",
        lambda: warning.q(
            "SELECT reason, path, type FROM {db}.rejected_events WHERE event_id = %(id)s",
            {"id": bad["id"]},
        ),
    )
    assert rows[0] == ("expected float, got str", "data.value", "city.reading.v1")


def test_another_department_cannot_clear_the_alarm_of_iot(warning):
    """water publishes readings in its own name for iot's sensor id, and a forged "cleared"
    report: iot's incident stays open; the forged report is refused with its reason."""
    sensor = f"WL-{uuid.uuid4().hex[:8]}"
    start = time.time()
    warning.send(*series(sensor, [0.4, 0.4, 0.4], start))
    incident = one_incident(warning, sensor)
    wait_status(warning, incident, "dispatched")

    warning.send(*series(sensor, [0.05, 0.05, 0.05], start + 3, department="water"))
    warning.wait(
        "water's readings stored under water",
        lambda: stored_readings(warning, sensor, "water") == 3,
    )
    forged = forged_clear(sensor)
    warning.send(forged)
    rows = warning.wait(
        "the forged clear refused",
        lambda: warning.q(
            "SELECT reason, path FROM {db}.rejected_events WHERE event_id = %(id)s",
            {"id": forged["id"]},
        ),
    )
    assert rows[0][1] == "data.sensor.alarm"
    assert "water did not raise" in rows[0][0]
    assert status_of(warning, incident)[0] == "dispatched"


# -- helpers --------------------------------------------------------------------------------------
def forged_clear(sensor: str) -> dict:
    return {
        "specversion": "1.0",
        "id": f"forged-{uuid.uuid4().hex}",
        "source": "/departments/water",
        "type": "city.report.v1",
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "partitionkey": MICRO[:9],
        "data": {
            "channel": "sensor",
            "category": "waterlogging",
            "severity": 3,
            "title": "forged clear",
            "location": {"district": MICRO[:6], "street": MICRO[:9], "micro_grid": MICRO},
            "sensor": {"sensor_id": sensor, "metric": "water_level", "value": 0.0,
                       "alarm": "cleared"},
        },
    }  # fmt: skip


def peak_of(stack: Stack, incident: str):
    rows = stack.q(
        "SELECT argMax(state, version) FROM {db}.incidents WHERE incident_id = %(i)s",
        {"i": incident},
    )
    import json

    return json.loads(rows[0][0]).get("sensor_peak") if rows else None


def lead_of(stack: Stack, incident: str) -> str:
    rows = stack.q(
        "SELECT lead_department FROM {db}.incidents_current WHERE incident_id = %(i)s",
        {"i": incident},
    )
    return rows[0][0]


def count_incidents(stack: Stack, category: str, sensor: str) -> int:
    rows = stack.q(
        "SELECT uniqExact(incident_id) FROM {db}.incidents "
        "WHERE category = %(c)s AND position(state, %(s)s) > 0",
        {"c": category, "s": f'"sensor_id":"{sensor}"'},
    )
    return rows[0][0]
