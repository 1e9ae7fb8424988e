"""只投诉一次 at each matter's own scale: the per-category repeat rule (radius, window after close,
scope) from the policy, matching by it, the district scope's keys and routing, and the engine
linking one gas leak across a street border (on another partition) and after recovery."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import orjson
import pytest

from cityops.schemas.registry import load_registry
from cityops.streams.clock import Clock
from cityops.streams.incidents.logic import incident_id_for
from cityops.streams.incidents.model import Chain, ReportIn
from cityops.streams.incidents.policy import (
    Policy,
    PolicyError,
    RepeatRule,
    load_policy,
    policy_from_dict,
)
from cityops.streams.incidents.repeat import (
    WIDE_CELL_DEGREES,
    Candidate,
    candidate_of,
    cell_degrees,
    cells_of_box,
    index_keys,
    key_prefix,
    match_repeat,
    scope_key,
)
from cityops.streams.intake import to_item
from cityops.streams.kafka import partition_for
from tests.unit.streams.builders import DISTRICT, MICRO, POLICY, STREET, T0, a_report, an_engine

LAT, LON = 32.0, 118.7
M_PER_DEG_LAT = 111_195
HOUR = timedelta(hours=1)
OTHER_STREET = "320105002"  # the neighbour of STREET in the same district


# -- the policy ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "category,rule",
    [
        ("gas_leak", RepeatRule(500, 6 * HOUR, "district")),
        ("fire_hazard", RepeatRule(300, 6 * HOUR, "district")),
        ("waterlogging", RepeatRule(300, 12 * HOUR, "district")),
        ("road_damage", RepeatRule(50, timedelta(days=30), "street")),  # a pothole: the default
        ("noise", RepeatRule(50, timedelta(days=30), "street")),
    ],
)
def test_each_category_has_its_rule(category, rule):
    assert POLICY.repeat_rule(category) == rule
    assert load_policy().repeat_rule(category) == rule  # the shipped file says the same


def test_a_file_adds_or_replaces_category_rules():
    policy = policy_from_dict(
        {
            "repeat": {
                "radius_m": 30,
                "category": {
                    "tree_fall": {"radius_m": 80, "after_close": "2d"},
                    "gas_leak": {"radius_m": 800, "after_close": "3h", "scope": "district"},
                },
            }
        }
    )
    assert policy.repeat_rule("tree_fall") == RepeatRule(80, timedelta(days=2), "street")
    assert policy.repeat_rule("gas_leak") == RepeatRule(800, 3 * HOUR, "district")
    assert policy.repeat_rule("noise").radius_m == 30
    assert policy.repeat_rule("fire_hazard").radius_m == 300  # a default kept
    # a wide rule without a scope is the district's
    wide = policy_from_dict(
        {"repeat": {"category": {"noise": {"radius_m": 200, "after_close": "1h"}}}}
    )
    assert wide.repeat_rule("noise").scope == "district"


def test_recovery_reads_back_the_longest_window():
    assert Policy().longest_repeat_days == 30
    short = policy_from_dict({"repeat": {"days_after_close": 1}})
    assert short.longest_repeat_days == 1  # gas leak's 6 h is shorter
    longer = policy_from_dict(
        {
            "repeat": {
                "days_after_close": 1,
                "category": {"noise": {"radius_m": 50, "after_close": "40d"}},
            }
        }
    )
    assert longer.longest_repeat_days == 40


def _category(**rule):
    return {"repeat": {"category": {"gas_leak": rule}}}


@pytest.mark.parametrize(
    "doc,message",
    [
        ({"repeat": {"radius_m": 0}}, r"repeat.radius_m: metres, above 0"),
        ({"repeat": {"radius_m": -5}}, r"repeat.radius_m: a number >= 0"),
        ({"repeat": {"radius_m": "50"}}, r"repeat.radius_m: a number"),
        ({"repeat": {"radius_m": True}}, r"repeat.radius_m: a number"),
        ({"repeat": {"radius_m": 500}}, r"repeat.radius_m: at most 100 m for every category"),
        ({"repeat": {"days_after_close": -1}}, r"repeat.days_after_close: a number >= 0"),
        ({"repeat": {"radius": 50}}, r"repeat.radius: unknown key"),
        ({"repeat": {"category": "gas_leak"}}, r"repeat.category: expected tables"),
        ({"repeat": {"category": {"gas": {}}}}, r"repeat.category.gas: unknown category 'gas'"),
        (
            {"repeat": {"category": {"gas_leak": 500}}},
            r"repeat.category.gas_leak: expected a table",
        ),
        (_category(after_close="6h"), r"gas_leak: needs radius_m"),
        (_category(radius_m=500), r"gas_leak: needs after_close"),
        (
            _category(radius_m=5000, after_close="6h"),
            r"gas_leak.radius_m: metres, above 0 and at most 2000",
        ),
        (_category(radius_m=500, after_close="soon"), r"gas_leak.after_close: expected"),
        (_category(radius_m=500, after_close="1wd"), r"gas_leak.after_close: clock time"),
        (_category(radius_m=500, after_close="6h", scope="city"), r"gas_leak.scope: one of"),
        (_category(radius_m=500, after_close="6h", scope="street"), r'scope must be "district"'),
        (_category(radius_m=500, after_close="6h", within="1h"), r"gas_leak.within: unknown key"),
    ],
)
def test_a_bad_repeat_rule_names_the_key(doc, message):
    with pytest.raises(PolicyError, match=message):
        policy_from_dict(doc)


# -- matching by the category's rule ------------------------------------------------------------
@pytest.mark.parametrize(
    "category,metres,links",
    [
        ("gas_leak", 100, True),
        ("gas_leak", 480, True),
        ("gas_leak", 520, False),
        ("waterlogging", 290, True),
        ("waterlogging", 320, False),
        ("road_damage", 45, True),
        ("road_damage", 100, False),  # a pothole 100 m away is another pothole
    ],
)
def test_distance_by_category(category, metres, links):
    report = a_report(category, level="street", lat=LAT + metres / M_PER_DEG_LAT, lon=LON).report
    found = match_repeat(report, [Candidate("i1", "", b"", LAT, LON)], T0, POLICY)
    assert (found is not None) is links


@pytest.mark.parametrize(
    "category,closed_ago,links",
    [
        ("gas_leak", None, True),  # open: always the same matter
        ("gas_leak", 5 * HOUR, True),
        ("gas_leak", 7 * HOUR, False),  # a leak six hours after the last one closed is new
        ("waterlogging", 11 * HOUR, True),
        ("waterlogging", 13 * HOUR, False),
        ("road_damage", 7 * HOUR, True),
        ("road_damage", timedelta(days=29), True),
        ("road_damage", timedelta(days=31), False),
    ],
)
def test_window_after_close_by_category(category, closed_ago, links):
    closed_at = None if closed_ago is None else T0 - closed_ago
    report = a_report(category).report
    found = match_repeat(report, [Candidate("i1", MICRO, closed_at=closed_at)], T0, POLICY)
    assert (found is not None) is links


# -- scope, keys and routing --------------------------------------------------------------------
@pytest.mark.parametrize(
    "chain,category,scope",
    [
        (Chain(DISTRICT, STREET, micro_grid=MICRO), "gas_leak", DISTRICT),
        (Chain(DISTRICT, STREET, micro_grid=MICRO), "road_damage", STREET),
        (Chain(DISTRICT), "road_damage", DISTRICT),  # no street known: the district, as before
        (Chain(DISTRICT), "gas_leak", DISTRICT),
        (Chain("", STREET), "gas_leak", STREET),  # no district: nothing wider to use
    ],
)
def test_scope_key(chain, category, scope):
    assert scope_key(chain, POLICY.repeat_rule(category)) == scope


def test_wide_rules_use_wide_cells_and_read_few_of_them():
    assert cell_degrees(50) < cell_degrees(500) == WIDE_CELL_DEGREES
    prefix = key_prefix(DISTRICT, "gas_leak")
    candidate = Candidate("i", "", b"", 32.0055, 118.7055)
    assert index_keys(prefix, candidate, WIDE_CELL_DEGREES) == [f"{prefix}w:3200:11870"]
    dlat = 505 / M_PER_DEG_LAT
    dlon = dlat / 0.84  # cos(32°)
    box = cells_of_box(prefix, LAT - dlat, LAT + dlat, LON - dlon, LON + dlon, WIDE_CELL_DEGREES)
    narrow = cells_of_box(prefix, LAT - dlat, LAT + dlat, LON - dlon, LON + dlon)
    assert len(box) <= 6 < 100 < len(narrow)
    assert all(key.startswith(f"{prefix}w:") for key in box)


def _event(category: str, micro: str) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": "e1",
            "source": "/departments/hotline12345",
            "type": "city.report.v1",
            "time": "2026-11-25T02:00:00Z",
            "data": {
                "channel": "hotline",
                "category": category,
                "severity": 4,
                "title": "t",
                "location": {"district": micro[:6], "micro_grid": micro},
            },
        }
    )


@pytest.mark.parametrize(
    "category,policy,key,scope",
    [
        ("gas_leak", POLICY, DISTRICT, DISTRICT),
        ("road_damage", POLICY, STREET, ""),
        ("gas_leak", None, STREET, ""),  # a bridge without the policy: every report by street
    ],
)
def test_the_bridge_routes_a_wide_category_by_its_district(category, policy, key, scope):
    routing, item = to_item(
        _event(category, MICRO),
        None,
        b"k",
        1_764_036_000_000,
        "t/0/5",
        now=T0,
        clock=Clock(),
        registry=load_registry(),
        policy=policy,
    )
    assert isinstance(item, ReportIn)
    assert (routing, item.scope, item.chain.street) == (key, scope, STREET)
    # the scope travels in the bundle (and is left out of it when it is the street)
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(item), type=ReportIn)
    assert decoded.scope_key == key


# -- the engine ---------------------------------------------------------------------------------
def _gas(street: str, metres_north: float, scope: str = DISTRICT) -> ReportIn:
    report = a_report(
        "gas_leak", 4, level="street", lat=LAT + metres_north / M_PER_DEG_LAT, lon=LON
    )
    micro = f"{street}00101{int(metres_north) % 90 + 10:02d}"  # a micro-grid of its own
    chain = Chain(DISTRICT, street, street + "001", street + "00101", micro)
    location = msgspec.structs.replace(
        report.report.location, street=street, community=chain.community, grid=chain.grid,
        micro_grid=micro,
    )  # fmt: skip
    data = msgspec.structs.replace(report.report, location=location)
    return msgspec.structs.replace(report, report=data, chain=chain, scope=scope)


def _land(engine, incidents: dict, repeats: dict) -> None:
    written, values = engine.table_writes()
    for items in written.values():
        incidents.update(items)
    for items in values.values():
        repeats.update(items)
    engine.landed()


def test_streets_of_the_example_are_on_different_partitions():
    assert partition_for(STREET, 4) != partition_for(OTHER_STREET, 4)


def test_one_gas_leak_across_micro_grids_and_a_street_border_is_one_incident():
    incidents, repeats = {}, {}
    engine = an_engine(incidents, repeats)
    reports = [_gas(STREET, 0), _gas(OTHER_STREET, 150), _gas(STREET, 300), _gas(OTHER_STREET, 450)]
    first = reports[0]
    incident_id = incident_id_for(first.department, first.id, first.chain, first.scope)
    assert incident_id.startswith(f"{DISTRICT}-")
    partition = engine.partition_of(incident_id)
    assert partition == partition_for(DISTRICT, 4)  # where the bridge sends every one of them
    engine.apply(partition, reports)
    _land(engine, incidents, repeats)
    assert list(incidents) == [incident_id]
    assert incidents[incident_id].repeat_count == len(reports) - 1
    # 700 m from the first: another leak
    engine.apply(partition, [far := _gas(OTHER_STREET, 700)])
    _land(engine, incidents, repeats)
    assert len(incidents) == 2
    assert incident_id_for(far.department, far.id, far.chain, far.scope) in incidents


def test_street_scoped_reports_do_not_cross_the_border():
    # The same leak routed by street (a bridge without the policy): each street its own incident.
    incidents, repeats = {}, {}
    engine = an_engine(incidents, repeats)
    for report in (_gas(STREET, 0, scope=""), _gas(OTHER_STREET, 150, scope="")):
        engine.apply(engine.partition_of(f"{report.chain.street}-x"), [report])
    _land(engine, incidents, repeats)
    assert sorted(i.split("-")[0] for i in incidents) == [STREET, OTHER_STREET]


def test_the_index_of_a_district_scope_incident_is_rebuilt_under_its_district():
    incidents, repeats = {}, {}
    engine = an_engine(incidents, repeats)
    first = _gas(STREET, 0)
    incident_id = incident_id_for(first.department, first.id, first.chain, first.scope)
    partition = engine.partition_of(incident_id)
    engine.apply(partition, [first])
    _land(engine, incidents, repeats)
    expected = {
        key
        for key in index_keys(
            key_prefix(DISTRICT, "gas_leak"),
            candidate_of(incidents[incident_id]),
            WIDE_CELL_DEGREES,
        )
    }
    assert set(repeats) == expected
    # The repeats changelog lost (a crash between the two changelogs): a restart rebuilds it
    # from the incidents table, and a report from the other street still links.
    repeats.clear()
    restarted = an_engine(incidents, repeats)
    restarted.apply(partition, [_gas(OTHER_STREET, 200)])
    _land(restarted, incidents, repeats)
    assert list(incidents) == [incident_id] and incidents[incident_id].repeat_count == 1
    assert expected <= set(repeats)
