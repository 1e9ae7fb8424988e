"""Heartbeats per sensor group (`[[feed]]` with `metric` / `sensor_prefix`): which readings keep a
group alive, how the rules file names and checks groups, the bridge's group heartbeats, and the
readings engine opening one `feed_silent` alarm per silent group, naming it, cleared when its
readings return, while the department's own feed and other groups go on."""

from __future__ import annotations

import json
import time

import msgspec
import pytest

from cityops.schemas.event_types import Location
from cityops.streams.clock import Clock
from cityops.streams.kafka import Outbox, partition_for
from cityops.streams.readings.bridge import add_readings, heard_groups
from cityops.streams.readings.engine import FEED_PREFIX, ReadingsEngine
from cityops.streams.readings.model import Beat, ClockTick, GroupBeat, ReadingBundle, ReadingIn
from cityops.streams.readings.rules import Feed, RulesError, feed_name, parse_rules

WATER = Feed("iot", 300, metric="water_level")
JY = Feed("iot", 300, sensor_prefix="WL-JY-")
JY_WATER = Feed("iot", 300, metric="water_level", sensor_prefix="WL-JY-")
DEPT = Feed("iot", 300)

COVERS = {
    "metric group: its metric": (WATER, ("iot", "water_level", "WL-1"), True),
    "metric group: another metric": (WATER, ("iot", "ch4_lel", "WL-1"), False),
    "metric group: another department": (WATER, ("water", "water_level", "WL-1"), False),
    "prefix group: its sensors": (JY, ("iot", "ch4_lel", "WL-JY-0012"), True),
    "prefix group: other sensors": (JY, ("iot", "water_level", "WL-QH-0001"), False),
    "both: metric and prefix": (JY_WATER, ("iot", "water_level", "WL-JY-7"), True),
    "both: prefix without the metric": (JY_WATER, ("iot", "ch4_lel", "WL-JY-7"), False),
    "a department feed is no group": (DEPT, ("iot", "water_level", "WL-1"), False),
}


@pytest.mark.parametrize(("feed", "reading", "covered"), COVERS.values(), ids=COVERS.keys())
def test_which_readings_keep_a_group_alive(feed, reading, covered):
    assert feed.covers(*reading) is covered


@pytest.mark.parametrize(
    ("feed", "name"),
    [(DEPT, "iot"), (WATER, "iot/water_level"), (JY, "iot/WL-JY-*"),
     (JY_WATER, "iot/water_level/WL-JY-*")],
)  # fmt: skip
def test_a_feed_is_named_by_its_department_and_group(feed, name):
    assert feed.name == name == feed_name(feed.department, feed.metric, feed.sensor_prefix)


def test_the_rules_file_takes_groups_beside_the_departments_feed():
    rules = parse_rules(
        '[[feed]]\ndepartment = "iot"\nsilent_after_seconds = 300\n'
        '[[feed]]\ndepartment = "iot"\nmetric = "water_level"\nsilent_after_seconds = 120\n'
        '[[feed]]\ndepartment = "iot"\nsensor_prefix = "GAS-"\nsilent_after_seconds = 60\n'
        'district = "320105"\n'
    )
    assert [f.name for f in rules.feeds] == ["iot", "iot/water_level", "iot/GAS-*"]
    assert [f.name for f in rules.groups] == ["iot/water_level", "iot/GAS-*"]
    assert rules.feed("iot/water_level").silent_after_seconds == 120
    assert rules.feed("iot/GAS-*").district == "320105"


FEED = '[[feed]]\ndepartment = "iot"\nsilent_after_seconds = 60\n'
ERRORS = {
    "empty metric": (FEED + 'metric = ""\n', "`metric` must be non-empty text"),
    "metric with a slash": (FEED + 'metric = "a/b"\n', "`metric` must be at most 64"),
    "long prefix": (FEED + f'sensor_prefix = "{"X" * 41}"\n', "`sensor_prefix` must be at most"),
    "a group twice": (
        FEED + 'metric = "water_level"\n' + FEED + 'metric = "water_level"\n',
        '"iot/water_level" appears twice',
    ),
}


@pytest.mark.parametrize(("text", "error"), ERRORS.values(), ids=ERRORS.keys())
def test_a_bad_group_stops_the_start_naming_the_key(text, error):
    with pytest.raises(RulesError) as refused:
        parse_rules(text)
    assert error in str(refused.value)


def reading(sensor: str, metric: str, at: float, department: str = "iot") -> ReadingIn:
    return ReadingIn(department, sensor, metric, 0.1, "m", Location("320102"), at, at, at)


def test_the_bridge_beats_per_group_on_the_groups_partition():
    seen: dict = {}
    for item in (reading("WL-JY-1", "water_level", 10.0), reading("WL-JY-2", "ch4_lel", 12.0),
                 reading("WL-QH-1", "water_level", 11.0)):  # fmt: skip
        heard_groups(seen, (WATER, JY, JY_WATER), item)
    assert seen == {
        "iot/water_level": ("iot", 11.0),
        "iot/WL-JY-*": ("iot", 12.0),
        "iot/water_level/WL-JY-*": ("iot", 10.0),
    }
    outbox = Outbox()
    add_readings(outbox, "readings", {}, {"iot": 12.0}, 4, seen)
    beats = {
        (partition, getattr(beat, "feed", "")): beat
        for (_, partition), records in outbox._records.items()
        for _, value, _ in records
        for beat in msgspec.msgpack.decode(value, type=ReadingBundle).items
    }
    assert beats[(partition_for("iot", 4), "")] == Beat("iot", 12.0)
    assert beats[(partition_for("iot/water_level", 4), "iot/water_level")].at == 11.0
    assert isinstance(beats[(partition_for("iot/WL-JY-*", 4), "iot/WL-JY-*")], GroupBeat)
    # a department's beat is encoded as before: older workers read it
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(Beat("iot", 1.0))) == ["beat", "iot", 1.0]


def engine(*feeds: Feed) -> ReadingsEngine:
    from cityops.streams.readings.rules import RuleSet

    return ReadingsEngine({}, {}, RuleSet((), feeds), 1, Clock())


def silent_reports(eng: ReadingsEngine) -> list[tuple[str, str, str]]:
    out = []
    for _, value in eng.alarms:
        data = json.loads(value)["data"]
        out.append((data["sensor"]["sensor_id"], data["sensor"]["alarm"], data["title"]))
    eng.alarms.clear()
    return out


def test_a_silent_group_opens_its_own_incident_and_its_readings_resolve_it():
    eng = engine(DEPT, WATER)
    # both heard at 0; then only gas readings (the department's feed stays alive)
    eng.apply(0, [Beat("iot", 0.0), GroupBeat("iot", 0.0, "iot/water_level")])
    eng.apply(0, [Beat("iot", 250.0), ClockTick(400.0)])
    assert silent_reports(eng) == [
        ("feed:iot/water_level", "raised", "数据源中断 Feed silent: iot/water_level")
    ]
    assert [row[:3] for row in eng.feed_rows] == [("iot/water_level", 1, 0)]
    eng.apply(0, [Beat("iot", 450.0), ClockTick(500.0)])
    assert silent_reports(eng) == []  # raised once, and the department is alive
    eng.apply(0, [GroupBeat("iot", 520.0, "iot/water_level")])
    assert silent_reports(eng) == [
        ("feed:iot/water_level", "cleared", "数据源中断 Feed silent: iot/water_level")
    ]
    _, feeds = eng.take()
    assert {key for items in feeds.values() for key, _ in items} == {
        FEED_PREFIX + "iot",
        FEED_PREFIX + "iot/water_level",
    }


def test_a_group_beat_of_another_department_or_an_unknown_group_is_ignored():
    eng = engine(WATER)
    eng.apply(0, [GroupBeat("water", 0.0, "iot/water_level"), GroupBeat("iot", 0.0, "iot/nothing")])
    eng.apply(0, [ClockTick(10_000.0)])
    assert silent_reports(eng) == [] and eng.feed_rows == []  # never heard from: not watched


def test_the_intake_bridge_sends_group_beats_only_for_its_groups_readings():
    import orjson

    from cityops.schemas.registry import load_registry
    from cityops.streams.intake import Bridge
    from tests.integration.test_early_warning import a_reading
    from tests.unit.streams.claims.test_paths import batch

    bridge = Bridge(
        bootstrap="unused:9092", source="city.events", bundles="bundles", readings="readings",
        group="g", partitions=4, clock=Clock(), registry=load_registry(), tick_seconds=3600.0,
        groups=(WATER,),
    )  # fmt: skip
    gas = a_reading("GAS-1", 1.0, time.time())
    gas["data"]["metric"] = "ch4_lel"
    outbox, _ = bridge.pack(batch(orjson.dumps(gas)))
    items = [
        item
        for (topic, _), records in outbox._records.items() if topic == "readings"
        for _, value, _ in records
        for item in msgspec.msgpack.decode(value, type=ReadingBundle).items
    ]  # fmt: skip
    assert not [i for i in items if isinstance(i, GroupBeat)]  # gas keeps only the department
    assert [i.department for i in items if isinstance(i, Beat)] == ["iot"]
    water = orjson.dumps(a_reading("WL-1", 0.1, time.time()))
    outbox, _ = bridge.pack(batch(water))
    (beat,) = [
        (partition, item)
        for (topic, partition), records in outbox._records.items() if topic == "readings"
        for _, value, _ in records
        for item in msgspec.msgpack.decode(value, type=ReadingBundle).items
        if isinstance(item, GroupBeat)
    ]  # fmt: skip
    assert beat[0] == partition_for("iot/water_level", 4)
    assert (beat[1].department, beat[1].feed) == ("iot", "iot/water_level")
