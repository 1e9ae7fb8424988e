"""The repeat index in small values: its keys, the address hash, eviction of incidents closed
beyond the repeat window, the cap per value, and the engine keeping every value bounded under a
flood while linking repeats as the whole-street matcher does."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.schemas.event_types import MAX_ADDRESS_CHARS
from cityops.streams.incidents.logic import incident_id_for
from cityops.streams.incidents.repeat import (
    ADDRESS_HASH_BYTES,
    Candidate,
    address_hash,
    candidate_of,
    find_repeat,
    index_keys,
    kept,
    key_prefix,
    match_repeat,
    over_cap,
)
from tests.unit.streams.builders import (
    MICRO,
    POLICY,
    STREET,
    T0,
    a_report,
    an_engine,
    an_incident,
)
from tests.unit.streams.test_repeat import LAT, LON, reference_match

PREFIX = key_prefix(STREET, "noise")
ADDR = address_hash("江东中路 100 号")
DAY = timedelta(days=1)


# -- keys ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "candidate,keys",
    [
        (Candidate("i", MICRO), [f"{PREFIX}g:{MICRO}"]),
        (Candidate("i", "", ADDR), [f"{PREFIX}a:{ADDR.hex()}"]),
        (Candidate("i", "", b"", 32.0005, 118.7005), [f"{PREFIX}c:32000:118700"]),
        (Candidate("i", "", b"", -0.0005, -0.0005), [f"{PREFIX}c:-1:-1"]),
        (Candidate("i", "", b"", sensor_id="wl-1"), [f"{PREFIX}s:wl-1"]),
        (
            Candidate("i", MICRO, b"", 32.0005, 118.7005, "wl-1"),
            [f"{PREFIX}s:wl-1", f"{PREFIX}g:{MICRO}", f"{PREFIX}c:32000:118700"],
        ),
        (Candidate("i"), []),  # nothing a rule could find it by: not indexed at all
    ],
)
def test_a_candidate_lives_in_one_value_per_rule_that_can_find_it(candidate, keys):
    assert index_keys(PREFIX, candidate) == keys


def test_every_key_starts_with_the_street_so_it_stays_on_the_streets_partition():
    candidate = Candidate("i", MICRO, b"", LAT, LON, "wl|1")
    assert all(k.split("|", 1)[0] == STREET for k in index_keys(PREFIX, candidate))


@pytest.mark.parametrize(
    "a,b,same",
    [
        ("江东中路 100 号", "  江东中路   100 号 ", True),  # spacing does not count
        ("Jiangdong Rd 100", "jiangdong rd 100", True),  # nor case
        ("江东中路 100 号", "江东中路 101 号", False),
        ("江东中路 100 号", "江东中路100号", False),  # spaces inside a word do
    ],
)
def test_the_address_hash_is_of_the_normalised_text(a, b, same):
    assert (address_hash(a) == address_hash(b)) is same


def test_the_address_hash_has_a_fixed_size_whatever_the_address():
    assert len(address_hash("楼" * MAX_ADDRESS_CHARS)) == ADDRESS_HASH_BYTES
    assert len(address_hash("1")) == ADDRESS_HASH_BYTES
    assert address_hash(None) == address_hash("  ") == b""


# -- eviction and cap ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "closed_days_ago,stays",
    [(None, True), (0, True), (29, True), (30, True), (31, False), (400, False)],
)
def test_entries_closed_beyond_the_repeat_window_are_evicted(closed_days_ago, stays):
    closed_at = None if closed_days_ago is None else T0 - closed_days_ago * DAY
    assert ("i" in kept([Candidate("i", MICRO, closed_at=closed_at)], T0, 30)) is stays


def _entries(*spec: tuple[str, int | None]) -> dict[str, Candidate]:
    return {
        i: Candidate(i, MICRO, closed_at=None if days is None else T0 - days * DAY)
        for i, days in spec
    }


@pytest.mark.parametrize(
    "spec,cap,dropped",
    [
        ([("a", None), ("b", 2)], 2, []),  # within the cap
        ([("a", None), ("b", 2), ("c", 5), ("d", None)], 2, ["c", "b"]),  # oldest closed first
        ([("a", None), ("b", None), ("c", 1)], 2, ["c"]),
        ([("a", None), ("b", None), ("c", None)], 2, ["a"]),  # then the least recently changed
        ([("a", 3), ("b", None), ("c", None)], 1, ["a", "b"]),
    ],
)
def test_the_cap_drops_the_oldest_closed_first_then_the_oldest_open(spec, cap, dropped):
    assert over_cap(_entries(*spec), cap) == dropped


# -- lookups by key give what the whole street gives --------------------------------------------
def _sharded(candidates: list[Candidate]) -> dict[str, list[Candidate]]:
    index: dict[str, list[Candidate]] = {}
    for c in candidates:
        for key in index_keys(PREFIX, c):
            index.setdefault(key, []).append(c)
    return index


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([MICRO, MICRO[:-1] + "9", ""]),
            st.sampled_from(["", "中山路 1 号", "中山路1号"]),
            st.one_of(st.none(), st.floats(-0.002, 0.002)),
            st.floats(-0.002, 0.002),
            st.sampled_from(["", "wl-1", "wl-2"]),
            st.one_of(st.none(), st.integers(0, 60)),
        ),
        max_size=25,
    ),
    st.sampled_from(["micro_grid", "street"]),
    st.sampled_from([None, "wl-1"]),
    st.floats(-0.0015, 0.0015),
    st.booleans(),
    st.sampled_from([None, "中山路 1 号", " 中山路  1 号"]),
)
def test_lookups_by_key_find_what_the_whole_street_finds(rows, level, sensor, d, point, address):
    candidates = [
        Candidate(
            f"c{i}",
            micro,
            b"" if micro else address_hash(addr),  # as the index keeps it
            None if dlat is None else LAT + dlat,
            None if dlat is None else LON + dlon,
            sid,
            None if days is None else T0 - timedelta(days=days, hours=1),
        )
        for i, (micro, addr, dlat, dlon, sid, days) in enumerate(rows)
    ]
    report = a_report(
        level=level,
        sensor=sensor,
        lat=LAT + d if point else None,
        lon=LON - d if point else None,
        address=address,
    ).report
    index = _sharded(candidates)
    found = find_repeat(
        report, PREFIX, lambda keys: [c for k in keys for c in index.get(k, ())], T0, POLICY
    )
    allowed = reference_match(report, candidates, T0, POLICY)
    whole = match_repeat(report, candidates, T0, POLICY)
    assert (found is None) is (whole is None) is (not allowed)
    if found is not None:
        assert found.incident_id in allowed


@pytest.mark.parametrize("metres", [0, 30, 49, 49.9])
@pytest.mark.parametrize("bearing", [(1, 0), (0, 1), (-1, 0), (0, -1), (0.7, 0.7), (-0.7, 0.7)])
@pytest.mark.parametrize("base", [(32.0, 118.7), (31.99951, 118.70049), (32.0004999, 118.6995)])
def test_a_point_within_the_radius_is_found_across_cell_edges(metres, bearing, base):
    lat0, lon0 = base
    dlat = bearing[0] * metres / 111_195
    dlon = bearing[1] * metres / (111_195 * 0.848)  # cos(32°)
    candidate = Candidate("near", "", b"", lat0 + dlat, lon0 + dlon)
    index = _sharded([candidate])
    report = a_report(level="street", lat=lat0, lon=lon0).report
    found = find_repeat(
        report, PREFIX, lambda keys: [c for k in keys for c in index.get(k, ())], T0, POLICY
    )
    assert found is not None and found.incident_id == "near"


# -- the engine under a flood -------------------------------------------------------------------
def _largest_value(repeats: dict) -> int:
    return max(len(msgspec.msgpack.encode(v)) for v in repeats.values())


def _land(engine, incidents: dict, repeats: dict) -> None:
    written, values = engine.table_writes()
    for items in written.values():
        incidents.update(items)
    for items in values.values():
        repeats.update(items)
    engine.landed()


def test_distinct_long_addresses_on_one_street_keep_every_value_small():
    incidents, repeats = {}, {}
    engine = an_engine(incidents, repeats)
    flood = [
        a_report(level="street", address=f"建邺区江东中路{n}号".ljust(MAX_ADDRESS_CHARS, "楼"))
        for n in range(720)
    ]
    partition = engine.partition_of(
        incident_id_for(flood[0].department, flood[0].id, flood[0].chain)
    )
    for start in range(0, len(flood), 100):
        engine.apply(partition, flood[start : start + 100])
        _land(engine, incidents, repeats)
    assert len(incidents) == 720  # every one a matter of its own
    assert len(repeats) == 720 and _largest_value(repeats) < 200  # one small value per address
    # A repeat of one of them still links (the same address, spaced differently).
    again = a_report(level="street", address="  " + flood[7].report.location.address)
    engine.apply(partition, [again])
    linked = engine.incident(incident_id_for(flood[7].department, flood[7].id, flood[7].chain))
    assert linked.repeat_count == 1


def test_a_flood_of_points_on_one_street_stays_within_the_cap_per_value(caplog):
    incidents, repeats = {}, {}
    engine = an_engine(incidents, repeats)
    engine.max_index_entries = 2
    # A lattice 55 m apart: no point is a repeat of another, and a cell holds up to four.
    flood = [
        a_report(
            level="street", lat=LAT + 0.0000001 + i * 0.0005, lon=LON + 0.0000001 + j * 0.00059
        )
        for i in range(10)
        for j in range(10)
    ]
    partition = engine.partition_of(
        incident_id_for(flood[0].department, flood[0].id, flood[0].chain)
    )
    engine.apply(partition, flood)
    _land(engine, incidents, repeats)
    assert len(incidents) == 100
    per_cell: dict[str, int] = {}
    for incident in incidents.values():
        (key,) = index_keys(PREFIX, candidate_of(incident))
        per_cell[key] = per_cell.get(key, 0) + 1
    assert max(per_cell.values()) > 2  # the cap had work to do
    assert max(len(v) for v in repeats.values()) == 2
    assert "dropped" in caplog.text


def test_an_incident_closed_beyond_the_window_leaves_the_index_on_the_next_write():
    incidents, repeats = {}, {}
    engine = an_engine(incidents, repeats)
    first = a_report()
    partition = engine.partition_of(incident_id_for(first.department, first.id, first.chain))
    engine.apply(partition, [first])
    _land(engine, incidents, repeats)
    key = f"{PREFIX}g:{MICRO}"
    first_id = incident_id_for(first.department, first.id, first.chain)
    closed = incidents[first_id]
    closed.status, closed.closed_at = "closed", T0
    engine._index(partition, closed)  # as its closing change would
    _land(engine, incidents, repeats)
    assert [c.closed_at for c in repeats[key]] == [T0]
    # 31 days on: the report opens a new incident and the closed one is dropped from the value.
    later = a_report(at=T0 + 31 * DAY)
    engine.apply(partition, [later])
    _land(engine, incidents, repeats)
    assert [c.incident_id for c in repeats[key]] == [
        incident_id_for(later.department, later.id, later.chain)
    ]


def test_a_change_that_leaves_the_candidate_as_it_was_writes_no_index_value():
    incidents, repeats = {}, {}
    engine = an_engine(incidents, repeats)
    first = a_report()
    partition = engine.partition_of(incident_id_for(first.department, first.id, first.chain))
    engine.apply(partition, [first])
    _land(engine, incidents, repeats)
    engine.apply(partition, [a_report()])  # a repeat: the incident changes, its candidate not
    incidents_written, values = engine.table_writes()
    assert incidents_written and not values


# -- rebuilding the index -----------------------------------------------------------------------
def _places() -> list:
    return [
        an_incident(),  # micro-grid
        an_incident(level="street", address="江东中路 100 号"),  # address only
        an_incident("tree_fall", level="street", lat=LAT, lon=LON, sensor="wl-9"),  # point, sensor
    ]


def _expected_keys(incidents) -> set[str]:
    return {
        key
        for i in incidents
        for key in index_keys(key_prefix(i.chain.key, i.category), candidate_of(i))
    }


def test_snapshots_restored_from_clickhouse_are_indexed_in_small_values():
    incidents, repeats = {}, {}
    engine = an_engine(incidents, repeats)
    snapshots = _places()
    partition = engine.partition_of(snapshots[0].id)
    assert engine.restore(partition, snapshots) == 3
    _land(engine, incidents, repeats)
    assert set(repeats) - {f"#restored/{partition}"} == _expected_keys(snapshots)
    assert len(_expected_keys(snapshots)) == 4  # g:, a:, and s: and c: of the third


def test_an_index_lost_or_in_the_old_shape_is_rebuilt_from_the_incidents_table():
    stored = _places()
    incidents = {i.id: i for i in stored}
    # A value of the index before it was split: one list per street and category, never read.
    repeats = {f"{STREET}|noise": [], **{f"#restored/{p}": [] for p in range(4)}}
    engine = an_engine(incidents, repeats)
    partition = engine.partition_of(stored[0].id)
    engine.apply(partition, [])  # the first bundle after a start re-derives the index
    _land(engine, incidents, repeats)
    assert _expected_keys(stored) <= set(repeats)
    # and a report at the address-only incident's place links to it
    engine.apply(partition, [a_report(level="street", address=" 江东中路 100 号 ")])
    assert engine.incident(stored[1].id).repeat_count == 1
