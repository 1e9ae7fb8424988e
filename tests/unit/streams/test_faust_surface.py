"""What the Faust corrections (streams/faust_patches.py) and the engine's private reach into
faust-streaming, aiokafka and mode stand on: each upstream method a patch replaces or the engine
calls keeps the signature the code was written against, each private attribute keeps its shape,
and the version guard refuses other versions. docs/faust-corrections.md lists them per defect.

The signatures are compared without annotations (names, kinds, defaults: what a call relies on);
`inspect.signature` follows a patch's `__wrapped__` to the upstream function it replaced."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import subprocess
import sys
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from weakref import WeakSet

import aiokafka
import faust
import pytest
from faust.serializers import codecs
from faust.stores import rocksdb as faust_rocksdb
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP
from faust.types.tuples import Message
from mode.threads import QueueServiceThread

from cityops.settings import Settings
from cityops.streams import faust_patches
from cityops.streams.app import create_app, run_worker
from cityops.streams.faust_patches import VERIFIED, ReadOffsets, check_versions, unverified
from cityops.streams.incidents.agent import INCIDENT_CODEC, _table
from cityops.streams.incidents.store import (
    STORE_URL,
    BoundedOptions,
    FaustStore,
    incident_partition,
)

# (owner, attribute, signature): every upstream callable a patch replaces (marked) or wraps, or
# the engine calls although it is private, and the public ones whose exact use a patch assumes.
SIGNATURES = [
    # faust_patches._deliver_every_bundle replaces __init__ (then sets _read_offset)
    (
        Consumer,
        "__init__",
        "(self, transport, callback, on_partitions_revoked, on_partitions_assigned, *, "
        "commit_interval=None, commit_livelock_soft_timeout=None, loop=None, **kwargs)",
    ),
    # faust_patches._commit_only_contiguous wraps _new_offset
    (Consumer, "_new_offset", "(self, tp)"),
    # ReadOffsets is read by the fetch loop and filled by perform_seek / seek
    (Consumer, "_drain_messages", "(self, fetcher)"),
    (Consumer, "perform_seek", "(self)"),
    (Consumer, "seek", "(self, partition, offset)"),
    # release / release_all / finish: Faust waits on _unacked_messages here
    (Consumer, "wait_empty", "(self)"),
    # faust_patches._short_fetch_wait wraps _create_worker_consumer
    (AIOKafkaConsumerThread, "_create_worker_consumer", "(self, transport)"),
    # faust_patches._bounded_poll wraps _fetch_records
    (
        AIOKafkaConsumerThread,
        "_fetch_records",
        "(self, consumer, active_partitions, timeout=None, max_records=None)",
    ),
    # faust_patches._seek_to_committed_zero replaces seek_to_committed, calling these
    (AIOKafkaConsumerThread, "seek_to_committed", "(self)"),
    (AIOKafkaConsumerThread, "_ensure_consumer", "(self)"),
    (QueueServiceThread, "call_thread", "(self, fun, *args, **kwargs)"),
    (aiokafka.AIOKafkaConsumer, "seek_to_committed", "(self, *partitions)"),
    (aiokafka.AIOKafkaConsumer, "seek", "(self, partition, offset)"),
    # faust_patches._true_highwaters replaces _highwaters; true_end_offsets calls these
    (AIOKafkaConsumerThread, "_highwaters", "(self, partitions)"),
    (aiokafka.AIOKafkaConsumer, "end_offsets", "(self, partitions)"),
    # streams/app.py wraps the app's wait for acks (rebalance and stop)
    (faust.App, "_consumer_wait_empty", "(self, consumer, logger)"),
    # streams/incidents/store.py: TableStore, BoundedOptions, FaustStore._db
    (
        faust_rocksdb.Store,
        "__init__",
        "(self, url, app, table, *, key_index_size=None, options=None, read_only=False, "
        "driver=None, **kwargs)",
    ),
    (faust_rocksdb.Store, "_db_for_partition", "(self, partition)"),
    (faust_rocksdb.RocksDBOptions, "open", "(self, path, *, read_only=False)"),
    (faust_rocksdb.RocksDBOptions, "as_options", "(self)"),
    # streams/incidents/agent.py's codecs implement these
    (codecs.Codec, "_dumps", "(self, s)"),
    (codecs.Codec, "_loads", "(self, s)"),
]
# Patched in place: the installed function is ours, the upstream one its __wrapped__.
PATCHED = [
    (Consumer, "__init__", "faust.transport.consumer"),
    (Consumer, "_new_offset", "faust.transport.consumer"),
    (AIOKafkaConsumerThread, "_create_worker_consumer", "faust.transport.drivers.aiokafka"),
    (AIOKafkaConsumerThread, "seek_to_committed", "faust.transport.drivers.aiokafka"),
    (AIOKafkaConsumerThread, "_highwaters", "faust.transport.drivers.aiokafka"),
]


def shape(function) -> str:
    """A callable's parameters without annotations, of the upstream function if it is patched."""
    signature = inspect.signature(function)
    parameters = [p.replace(annotation=p.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=parameters, return_annotation=signature.empty))


@pytest.fixture(scope="module")
def app():
    """A worker's Faust app, patches applied (create_app), no broker."""
    app, _, _ = create_app(Settings(topic_prefix="fs."))
    return app


@pytest.mark.parametrize(
    ("owner", "name", "expected"),
    SIGNATURES,
    ids=[f"{owner.__name__}.{name}" for owner, name, _ in SIGNATURES],
)
def test_upstream_signature_is_the_one_the_code_was_written_against(app, owner, name, expected):
    assert name in dir(owner), f"{owner.__module__}.{owner.__name__}.{name} is gone"
    assert shape(getattr(owner, name)) == expected


@pytest.mark.parametrize(
    ("owner", "name", "module"), PATCHED, ids=[f"{o.__name__}.{n}" for o, n, _ in PATCHED]
)
def test_each_patch_is_installed_over_the_upstream_function(app, owner, name, module):
    installed = getattr(owner, name)
    assert installed.__module__ == faust_patches.__name__
    assert installed.__wrapped__.__module__ == module


def test_faust_consumer_bookkeeping_has_the_shape_the_patches_read(app):
    consumer = app.consumer
    assert isinstance(consumer, Consumer)
    # _deliver_every_bundle: Faust's own __init__ made a defaultdict(lambda: None); ours replaced it
    assert type(consumer._read_offset) is ReadOffsets
    # committed_offset(), commit_ready(): Faust keeps offset 0 as None
    assert isinstance(consumer._committed_offset, defaultdict)
    assert consumer._committed_offset.default_factory() is None
    # forget_acks(), _new_offset: acked offsets per partition as a list, and their index as a set
    assert consumer._acked.default_factory is list
    assert consumer._acked_index.default_factory is set
    # release(), release_all()
    assert isinstance(consumer._unacked_messages, WeakSet)


def test_fausts_fetch_loop_reads_the_read_offset_as_the_patch_assumes():
    """ReadOffsets answers None for bundle partitions; that delivers every message only while the
    fetch loop reads the mapping through __getitem__ and treats None as 'nothing read'."""
    source = inspect.getsource(Consumer._drain_messages)
    assert "get_read_offset = self._read_offset.__getitem__" in source
    assert "if r_offset is None or offset >= r_offset:" in source


def test_the_short_fetch_wait_reaches_aiokafkas_fetcher(app):
    async def created() -> int:
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        try:
            return consumer._fetch_max_wait_ms
        finally:
            await consumer.stop()

    assert asyncio.run(created()) == faust_patches.FETCH_MAX_WAIT_MS
    # the durable broker's longer wait (settings.fetch_wait_ms) reaches it the same way
    create_app(Settings(topic_prefix="fs.", fetch_wait_ms=500))
    try:
        assert asyncio.run(created()) == 500
    finally:
        create_app(Settings(topic_prefix="fs."))
    assert asyncio.run(created()) == faust_patches.FETCH_MAX_WAIT_MS
    # aiokafka hands the attribute to its Fetcher when the consumer starts
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in inspect.getsource(
        aiokafka.AIOKafkaConsumer.start
    )


def test_app_and_message_attributes_the_engine_reads(app):
    assert isinstance(app.consumer_generation_id, int)  # agent: acks of an older assignment
    assert "generation_id" in Message.__slots__
    # app.py tells a stop from a rebalance by should_stop; its tests stop the app by _stopped
    assert isinstance(type(app).should_stop, property) and not app.should_stop
    app._stopped.set()
    try:
        assert app.should_stop
    finally:
        app._stopped.clear()


def test_rocksdb_store_attributes_the_engine_reads(tmp_path):
    app = faust.App("fs-store", store=STORE_URL, datadir=str(tmp_path), web_enabled=False)
    store = FaustStore(
        _table(app, "incidents", "cityops_incident", 2), INCIDENT_CODEC, incident_partition(2)
    )
    data = store.table.data
    assert isinstance(data, faust_rocksdb.Store) and data.use_rocksdict
    assert isinstance(data.rocksdb_options, BoundedOptions)
    assert isinstance(data._dbs, dict)
    assert data.offset_key == b"__faust\0offset__"
    data._key_index[b"k"] = 1  # FaustStore.install keeps Faust's key → partition index
    assert data._key_index[b"k"] == 1
    assert store._db(1) is data._dbs[1]  # opened through _db_for_partition, kept in _dbs
    options = data.rocksdb_options
    assert options.max_open_files is None or options.max_open_files > 0
    assert options.target_file_size_base > 0


# The defects themselves, upstream: these fail once a release fixes one (then the patch can go;
# docs/faust-corrections.md says how).
def test_upstream_faust_still_commits_past_unacked_offsets(app):
    consumer, tp = app.consumer, TP("fs.elsewhere", 5)
    upstream = Consumer._new_offset.__wrapped__
    consumer._committed_offset[tp] = None  # committed 0
    consumer._acked[tp] = [2, 3]
    assert upstream(consumer, tp) == 4, "Faust now checks the head gap at committed offset 0"
    consumer._committed_offset[tp] = 5
    consumer._acked[tp] = [6, 7]
    assert upstream(consumer, tp) == 8, "Faust no longer lets one missing offset through"


def test_upstream_aiokafka_still_skips_a_committed_offset_of_0():
    source = inspect.getsource(aiokafka.AIOKafkaConsumer.seek_to_committed)
    assert "if offset and offset > 0:" in source, "aiokafka may now seek to offset 0"


def test_upstream_faust_still_hardcodes_the_fetch_wait():
    source = inspect.getsource(AIOKafkaConsumerThread._create_worker_consumer.__wrapped__)
    assert "fetch_max_wait_ms=1500," in source, "Faust may now have a setting for it"


# The version guard.
@pytest.mark.parametrize(
    ("found", "refused"),
    [
        (dict(VERIFIED), False),
        ({**VERIFIED, "faust-streaming": "0.15.4"}, True),
        ({**VERIFIED, "aiokafka": "0.13.0"}, True),
        ({**VERIFIED, "aiokafka": None}, True),  # not installed
        ({"faust-streaming": "0.15.3", "aiokafka": "0.14.0", "mode-streaming": "9"}, False),
    ],
)
def test_unverified_names_what_differs(found, refused):
    problem = unverified(found, {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"})
    assert (problem is not None) is refused
    if refused:
        assert "faust-streaming 0.15.3, aiokafka 0.14.0" in problem  # verified
        assert "docs/faust-corrections.md" in problem


def test_the_installed_versions_are_the_verified_ones():
    assert {name: metadata.version(name) for name in VERIFIED} == VERIFIED
    check_versions()  # no exit


def fake_versions(monkeypatch, **versions) -> None:
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: versions.get(name) or real(name))


def test_a_worker_on_other_versions_refuses_to_start_before_touching_the_broker(monkeypatch):
    fake_versions(monkeypatch, **{"faust-streaming": "0.16.0"})
    # No broker on this port: the refusal must come before the worker looks for one.
    with pytest.raises(SystemExit) as exited:
        run_worker(
            Settings(
                kafka_bootstrap="127.0.0.1:9",
                topic_prefix="fs-refused.",
                allow_unverified_faust=False,
            )
        )
    message = str(exited.value.code)
    assert message.count("\n") == 0
    assert "found faust-streaming 0.16.0, aiokafka 0.14.0" in message
    assert "verified with faust-streaming 0.15.3, aiokafka 0.14.0" in message
    assert "docs/faust-corrections.md" in message


def test_the_override_starts_with_a_warning(monkeypatch, caplog):
    fake_versions(monkeypatch, aiokafka="0.15.0")
    with caplog.at_level(logging.WARNING, logger=faust_patches.__name__):
        check_versions(allow_unverified=True)
    assert "found faust-streaming 0.15.3, aiokafka 0.15.0" in caplog.text
    assert "starting anyway" in caplog.text


def test_the_refusal_is_one_line_on_stderr_without_a_traceback():
    script = (
        "import sys; from importlib import metadata; real = metadata.version\n"
        "metadata.version = lambda n: '0.16.0' if n == 'faust-streaming' else real(n)\n"
        "from cityops.streams.__main__ import main; sys.exit(main(['worker']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[3],
        env={
            **os.environ,
            "CITYOPS_KAFKA_BOOTSTRAP": "127.0.0.1:9",
            "CITYOPS_ALLOW_UNVERIFIED_FAUST": "false",
        },
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("cityops worker refuses to start: found faust-streaming 0.16.0")
