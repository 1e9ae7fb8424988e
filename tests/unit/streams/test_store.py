"""The engine's view of a Faust table on RocksDB (rocksdict, in a temporary directory): values
installed per partition, read back by key, listed per partition, and recovered by Faust."""

from __future__ import annotations

from types import SimpleNamespace

import faust
import pytest
from faust.types import TP

from cityops.schemas.topics import Topics
from cityops.streams.incidents.agent import BUCKET_CODEC, INCIDENT_CODEC, _table
from cityops.streams.incidents.engine import Engine
from cityops.streams.incidents.logic import incident_id_for
from cityops.streams.incidents.repeat import Candidate
from cityops.streams.incidents.store import (
    STORE_URL,
    FaustStore,
    TableStore,
    bucket_partition,
    claim_state_dir,
    incident_partition,
)
from cityops.streams.kafka import Outbox, partition_for
from tests.unit.streams.builders import MICRO, POLICY, STREET, a_report, an_incident

PARTITIONS = 4
P = partition_for(STREET, PARTITIONS)


class Rows:
    pending = 0

    def add(self, table, row) -> None:
        pass


@pytest.fixture
def app(tmp_path):
    """A Faust app whose tables live in RocksDB under a temporary directory."""
    return faust.App("t-store", store=STORE_URL, datadir=str(tmp_path), web_enabled=False)


def stores(app) -> tuple[FaustStore, FaustStore]:
    incidents = _table(app, "incidents", "cityops_incident", PARTITIONS)
    repeats = _table(app, "repeats", "cityops_bucket", PARTITIONS)
    return (
        FaustStore(incidents, INCIDENT_CODEC, incident_partition(PARTITIONS)),
        FaustStore(repeats, BUCKET_CODEC, bucket_partition(PARTITIONS)),
    )


def test_the_tables_use_the_rocksdb_store(app):
    incidents, repeats = stores(app)
    assert isinstance(incidents.table.data, TableStore)
    assert isinstance(repeats.table.data, TableStore)


def test_an_installed_incident_is_read_back_from_its_partition(app):
    incidents, _ = stores(app)
    incident = an_incident()
    assert incidents.partition_of(incident.id) == P
    assert incidents.get(incident.id) is None
    incidents.install(P, [(incident.id, incident)])
    assert incidents.get(incident.id) == incident
    assert incidents.table.data._key_index[incident.id.encode()] == P
    assert incidents.get("320105001-missing", "none") == "none"


def test_items_of_lists_one_partition_without_faust_offsets(app):
    incidents, _ = stores(app)
    incident = an_incident()
    other = next(f"32011{n}001-00" for n in range(10) if partition_for(f"32011{n}001", 4) != P)
    elsewhere = an_incident()
    incidents.install(P, [(incident.id, incident)])
    incidents.install(incidents.partition_of(other), [(other, elsewhere)])
    data = incidents.table.data
    data.set_persisted_offset(SimpleNamespace(partition=P), 41)
    assert list(incidents.items_of(P)) == [(incident.id, incident)]
    assert data.persisted_offset(SimpleNamespace(partition=P)) == 41


def test_buckets_and_the_restore_marker_live_on_their_partitions(app):
    _, repeats = stores(app)
    bucket = [Candidate("320105001-ab", "3201050010010101")]
    other = (P + 1) % PARTITIONS
    repeats.install(P, [(f"{STREET}|noise", bucket)])
    repeats.install(other, [(f"#restored/{other}", [])])
    assert repeats.get(f"{STREET}|noise") == bucket
    assert repeats.get(f"#restored/{other}") == []
    assert repeats.get(f"#restored/{P}") is None
    assert [key for key, _ in repeats.items_of(other)] == [f"#restored/{other}"]


def test_changelog_records_carry_the_values_install_writes(app):
    incidents, _ = stores(app)
    incident = an_incident()
    outbox = Outbox()
    incidents.changelog(outbox, P, [(incident.id, incident)])
    (((topic, partition), records),) = outbox._records.items()
    assert topic == incidents.table.changelog_topic.get_topic_name() and partition == P
    assert INCIDENT_CODEC.decoder.decode(records[0][1]) == incident


def test_faust_recovery_writes_what_the_engine_reads(app):
    incidents, _ = stores(app)
    incident = an_incident()
    message = SimpleNamespace(
        tp=TP("t-store-incidents-changelog", P),
        offset=7,
        partition=P,
        key=incident.id.encode(),
        value=INCIDENT_CODEC.encoder.encode(incident),
    )
    incidents.table.data.apply_changelog_batch([SimpleNamespace(message=message)], None, None)
    assert incidents.get(incident.id) == incident


def test_a_restarted_engine_rebuilds_timers_and_index_from_the_store(app):
    incidents, repeats = stores(app)
    first = Engine(incidents, repeats, Rows(), Topics(""), PARTITIONS, POLICY)
    opening = a_report()
    first.apply(P, [opening, a_report(category="tree_fall")])
    written, _ = first.table_writes()
    for partition, items in written.items():
        incidents.install(partition, items)  # killed before the repeats were installed
    first.landed()

    restarted = Engine(incidents, repeats, Rows(), Topics(""), PARTITIONS, POLICY)
    restarted.apply(P, [a_report()])  # a repeat of the opening report's place
    assert restarted._timers.count(P) >= 2  # both incidents armed (the linked one re-armed)
    linked = restarted.incident(incident_id_for(opening.department, opening.id, opening.chain))
    assert linked.repeat_count == 1
    _, buckets = restarted.table_writes()
    assert sorted(key for key, _ in buckets[P]) == [
        f"{STREET}|noise|g:{MICRO}",
        f"{STREET}|tree_fall|g:{MICRO}",
    ]


def test_each_worker_claims_an_empty_state_directory_of_its_own(tmp_path):
    first = claim_state_dir(tmp_path / "faust")
    (first / "left-over").write_text("x")
    second = claim_state_dir(tmp_path / "faust")
    assert first != second and not list(second.iterdir())


def test_cached_buckets_follow_installs_and_stay_within_their_budget(app):
    repeats = FaustStore(
        _table(app, "repeats", "cityops_bucket", PARTITIONS),
        BUCKET_CODEC,
        bucket_partition(PARTITIONS),
        cache_items=5,
    )
    key = f"{STREET}|noise"
    first, second = [Candidate("320105001-01")], [Candidate("320105001-01"), Candidate("x")]
    repeats.install(P, [(key, first)])
    assert repeats.get(key) == first
    repeats.install(P, [(key, second)])
    assert repeats.get(key) is second
    repeats.install(P, [(f"{STREET}|other", [Candidate(str(n)) for n in range(4)])])
    assert repeats._cached <= 5 and key not in repeats._cache
    assert repeats.get(key) == second  # read back from RocksDB
    repeats.forget()
    assert not repeats._cache


def test_snapshots_restored_from_clickhouse_land_in_rocksdb_with_the_marker(app):
    incidents, repeats = stores(app)
    engine = Engine(incidents, repeats, Rows(), Topics(""), PARTITIONS, POLICY)
    assert engine.needs_restore(P)
    snapshot = an_incident()
    assert engine.restore(P, [snapshot]) == 1
    written, buckets = engine.table_writes()
    for partition, items in written.items():
        incidents.install(partition, items)
    for partition, items in buckets.items():
        repeats.install(partition, items)
    engine.landed()
    restarted = Engine(incidents, repeats, Rows(), Topics(""), PARTITIONS, POLICY)
    assert not restarted.needs_restore(P)
    assert incidents.get(snapshot.id) == snapshot
    assert [c.incident_id for c in repeats.get(f"{STREET}|noise|g:{MICRO}")] == [snapshot.id]
