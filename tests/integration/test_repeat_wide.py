"""One matter, one incident, at the matter's own scale (deploy/config/policy.toml
[repeat.category.gas_leak]: 500 m, district scope): gas-leak reports from several micro-grids of
two neighbouring streets (on different bundle partitions) make one incident on a real broker,
ClickHouse and worker; a pothole keeps the street's 50 m rule."""

from __future__ import annotations

import pytest

from cityops.streams.kafka import partition_for
from tests.integration.test_engine import a_report, an_action, incident_of, make_stack, status_of

# Micro-grids of 湖南路街道 (320106001) and 宁海路街道 (320106006) in 鼓楼区, within 300 m of the
# first, with their registry points.
STREET_A, STREET_B = "320106001", "320106006"
GAS_PLACES = [
    ("3201060010080203", 32.073083, 118.766588),
    ("3201060060070104", 32.073085, 118.766589),
    ("3201060010080202", 32.073108, 118.766923),
    ("3201060060070105", 32.072874, 118.767483),
    ("3201060010080207", 32.074284, 118.766779),
    ("3201060060070302", 32.072142, 118.767672),
    ("3201060010080204", 32.074278, 118.768032),
    ("3201060060070505", 32.073063, 118.764069),
    ("3201060060080106", 32.070948, 118.768483),
]
REPORTS_PER_PLACE = 5
# Two potholes ~100 m apart (0.0009 degrees of latitude) on one street.
POTHOLES = [
    ("3201060010080206", 32.072808, 118.767126),
    ("3201060010080201", 32.073708, 118.767126),
]


def _report(category: str, severity: int, place: tuple[str, float, float]) -> dict:
    micro, lat, lon = place
    event = a_report(category, severity, micro)
    event["data"]["location"] |= {"lat": lat, "lon": lon}
    return event


@pytest.fixture(scope="module")
def stack(request, services, tmp_path_factory):
    stack = make_stack(
        request, services.bootstrap, services.clickhouse, tmp_path_factory.mktemp("wide")
    )
    stack.start()
    yield stack
    stack.stop()
    stack.ch.disconnect()


def test_the_streets_are_on_different_partitions():
    # Otherwise the test below would not cross a partition border.
    assert partition_for(STREET_A, 4) != partition_for(STREET_B, 4)


def test_gas_leak_reports_across_micro_grids_and_streets_make_one_incident(stack):
    first = _report("gas_leak", 4, GAS_PLACES[0])
    stack.send(first)
    incident = incident_of(stack, first["id"])
    later = [
        _report("gas_leak", 4, place) for place in GAS_PLACES for _ in range(REPORTS_PER_PLACE)
    ]
    stack.send(*later)
    ids = tuple(r["id"] for r in [first, *later])
    linked = stack.wait(
        f"all {len(ids)} gas-leak reports stored",
        lambda: (
            rows
            if (
                rows := stack.q(
                    "SELECT incident_id, uniqExact(id) FROM {db}.events WHERE id IN %(ids)s "
                    "GROUP BY incident_id",
                    {"ids": ids},
                )
            )
            and sum(n for _, n in rows) == len(ids)
            else None
        ),
    )
    assert linked == [(incident, len(ids))]
    assert incident.startswith("320106-"), incident  # the district leads a wide matter's id
    stack.wait(
        "the incident's repeat count to reach every later report",
        lambda: status_of(stack, incident)[4] == len(later),
    )
    # an action finds it on the district's partition
    stack.send(an_action("accept", incident, "gas"))
    stack.wait("the lead to accept it", lambda: status_of(stack, incident)[0] == "accepted")


def test_a_pothole_100_m_away_keeps_its_own_incident(stack):
    reports = [_report("road_damage", 2, place) for place in POTHOLES]
    stack.send(reports[0])
    first = incident_of(stack, reports[0]["id"])
    stack.send(reports[1])
    second = incident_of(stack, reports[1]["id"])
    assert first != second
    assert first.startswith(f"{STREET_A}-") and second.startswith(f"{STREET_A}-")
    assert status_of(stack, first)[4] == 0
