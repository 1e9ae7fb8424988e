"""Heartbeats per sensor group on the real stack (a broker, ClickHouse, a worker with a rules file):
the IoT platform keeps sending gas readings, so its own feed stays alive, but its water-level
sensors fall silent: one `feed_silent` incident opens naming the group `iot/water_level`, the
wall's silent-feed list names the group (not the department), and the group's next reading
resolves it."""

from __future__ import annotations

import time

import pytest

from cityops.deploy import services as svc
from cityops.storage.feed_states import silent_feeds
from tests.integration.test_early_warning import a_reading, wait_status
from tests.integration.test_engine import make_stack

RULES = """
[[feed]]
department = "iot"
silent_after_seconds = 600

[[feed]]
department = "iot"
metric = "water_level"
silent_after_seconds = 4      # real seconds
district = "320105"
"""


@pytest.fixture(scope="module")
def groups(request, services, tmp_path_factory):
    home = tmp_path_factory.mktemp("feed-groups")
    rules = home / "rules.toml"
    rules.write_text(RULES)
    stack = make_stack(request, services.bootstrap, services.clickhouse, home, rules_file=rules)
    stack.worker = svc.start_worker(stack.settings, stack.log)
    yield stack
    stack.stop()
    stack.ch.disconnect()


def gas(at: float) -> dict:
    event = a_reading("GAS-1", 1.0, at)
    event["data"]["metric"] = "ch4_lel"
    return event


def test_a_silent_sensor_group_opens_its_own_incident_naming_it(groups):
    groups.send(a_reading("WL-G-1", 0.05, time.time()), gas(time.time()))

    def group_incident():
        groups.send(gas(time.time()))  # the department's feed is kept alive all along
        return groups.q(
            "SELECT incident_id, title FROM {db}.incidents_current WHERE category = 'feed_silent'"
        )

    (incident, title), *more = groups.wait("a feed_silent incident", group_incident, timeout=90)
    assert more == []
    assert "iot/water_level" in title
    names = groups.wait(
        "the wall's silent-feed list",
        lambda: [d for d, _ in silent_feeds(groups.ch, groups.db)],
    )
    assert names == ["iot/water_level"]  # the group, not the department
    groups.send(a_reading("WL-G-1", 0.06, time.time()))
    wait_status(groups, incident, "resolved")
    groups.wait(
        "the group's state back to live",
        lambda: not silent_feeds(groups.ch, groups.db),
    )
    rows = groups.q(
        "SELECT uniqExact(incident_id) FROM {db}.incidents WHERE category = 'feed_silent'"
    )
    assert rows == [(1,)]
