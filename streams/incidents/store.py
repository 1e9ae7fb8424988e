"""Where the incident engine's Faust tables keep their values: Faust's RocksDB store (rocksdict)
with one bounded memory budget per worker, and the engine's view of a table (reads and installs
by partition). Used by streams/incidents/agent.py (tables, commit) and engine.py (reads).

Values live on disk as the msgpack bytes the changelog carries; a read decodes one value. The
local state is wiped when a worker starts (`claim_state_dir`): the changelog topics (or, after the
embedded broker lost them, the ClickHouse snapshots) stay the only truth, as with the memory store.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path

import rocksdict
from faust.stores import STORES
from faust.stores import rocksdb as faust_rocksdb

from cityops.streams.incidents.logic import partition_key_of
from cityops.streams.kafka import Outbox, partition_for, street_partitions

log = logging.getLogger(__name__)
STORE_URL = "cityops-rocksdb://"
# One budget for every table and partition of a worker: the block cache, and the memtables
# charged to it (RocksDB's write buffer manager), so RocksDB's memory stays near this cap
# whatever the number of incidents or partitions. Faust's defaults are 2 GiB of block cache and
# 3 × 64 MiB of memtables per partition and table.
CACHE_BYTES = 48 * 2**20
WRITE_BUFFERS_BYTES = 16 * 2**20
WRITE_BUFFER_BYTES = 4 * 2**20  # one memtable of one partition
BLOOM_BITS_PER_KEY = 10  # ~1 % false positives: most reads are misses (a new incident's id)
# Decoded repeat-index values kept in memory, counted in candidates (~100 bytes each).
BUCKET_CACHE_ITEMS = 50_000


class _Budget:
    cache: rocksdict.Cache | None = None
    write_buffers: rocksdict.WriteBufferManager | None = None

    @classmethod
    def get(cls) -> tuple[rocksdict.Cache, rocksdict.WriteBufferManager]:
        if cls.cache is None or cls.write_buffers is None:
            cls.cache = rocksdict.Cache(CACHE_BYTES)
            cls.write_buffers = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
                WRITE_BUFFERS_BYTES, False, cls.cache
            )
        return cls.cache, cls.write_buffers


def open_databases(table) -> list:
    """The RocksDB databases a Faust table has open now, one per partition ([] for a table
    on another store)."""
    return list((getattr(getattr(table, "data", None), "_dbs", None) or {}).values())


def shared_cache_usage() -> int | None:
    """Bytes held in the worker's one block cache (memtables charged to it included); None
    before a table opened it."""
    return _Budget.cache.get_usage() if _Budget.cache is not None else None


class BoundedOptions(faust_rocksdb.RocksDBOptions):
    """Faust's RocksDB options for rocksdict, sharing one cache and memtable budget; no WAL
    (the local state is rebuilt at every start, so a write-ahead log would protect nothing)."""

    def open(self, path: Path, *, read_only: bool = False) -> rocksdict.Rdict:
        db = rocksdict.Rdict(
            str(path), options=self.as_options(), access_type=rocksdict.AccessType.read_write()
        )
        db.set_read_options(rocksdict.ReadOptions())
        writes = rocksdict.WriteOptions()
        # rocksdict's stubs declare the property's setter as a method
        writes.disable_wal = True  # type: ignore[method-assign, assignment]
        db.set_write_options(writes)
        return db

    def as_options(self) -> rocksdict.Options:
        cache, write_buffers = _Budget.get()
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        if self.max_open_files:
            options.set_max_open_files(self.max_open_files)
        options.set_write_buffer_size(WRITE_BUFFER_BYTES)
        options.set_max_write_buffer_number(2)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_write_buffer_manager(write_buffers)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(BLOOM_BITS_PER_KEY, False)
        table.set_block_cache(cache)
        # Index and filter blocks count against the cache too (else they grow with the data).
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        options.set_block_based_table_factory(table)
        return options


class TableStore(faust_rocksdb.Store):
    """Faust's RocksDB table store (recovery, rebalancing, offsets), with `BoundedOptions`."""

    def __init__(self, url, app, table, **kwargs) -> None:
        super().__init__(url, app, table, **kwargs)
        if not self.use_rocksdict:
            raise RuntimeError("the cityops table store needs rocksdict")
        self.rocksdb_options = BoundedOptions(use_rocksdict=True)


STORES.aliases.setdefault(STORE_URL.split(":")[0], f"{__name__}:TableStore")


class FaustStore:
    """A Faust Table as the Engine sees it: reads one partition's RocksDB directly (the engine
    also reads outside a Faust event, where Faust's own `get` cannot tell the partition),
    writes changelog records through the caller's Outbox, installs values after they were sent."""

    def __init__(
        self, table, codec, partition_of: Callable[[str], int], cache_items: int = 0
    ) -> None:
        self.table, self.codec, self.partition_of = table, codec, partition_of
        self._decode = codec.decoder.decode
        # Values encoded for the changelog, kept until `install` writes the same items. Keyed by
        # id(items), but each entry holds the list itself and `install` checks it by identity:
        # while the entry exists the list is alive, so no other list can have its id (a miss
        # only encodes again).
        # (items, their encoded values; None: a value too large to store)
        self._encoded: dict[int, tuple[list, list[bytes | None]]] = {}
        # Recently used list values (repeat buckets are read on every report and decode in
        # time proportional to their length): at most `cache_items` list items in all.
        self.cache_items = cache_items
        self._cache: OrderedDict[str, list] = OrderedDict()
        self._cached = 0

    def forget(self) -> None:
        """Drops cached values (after a rebalance Faust may have recovered newer ones)."""
        self._cache.clear()
        self._cached = 0

    def _remember(self, key: str, value: list) -> None:
        cache = self._cache
        old = cache.pop(key, None)
        if old is not None:
            self._cached -= len(old) + 1
        cache[key] = value
        self._cached += len(value) + 1
        while self._cached > self.cache_items:
            _, dropped = cache.popitem(last=False)
            self._cached -= len(dropped) + 1

    def _db(self, partition: int):
        # Faust's open databases, looked up on every call: a revoked partition's database must
        # not be kept alive here (it would keep RocksDB's lock when the partition comes back).
        data = self.table.data
        db = data._dbs.get(partition)
        return data._db_for_partition(partition) if db is None else db

    def get(self, key: str, default=None):
        if self.cache_items:
            value = self._cache.get(key)
            if value is not None:
                self._cache.move_to_end(key)
                return value
        raw = self._db(self.partition_of(key)).get(key.encode())
        if raw is None:
            return default
        value = self._decode(raw)
        if self.cache_items:
            self._remember(key, value)
        return value

    def items_of(self, partition: int) -> Iterator[tuple[str, object]]:
        """Every (key, value) held for one partition, decoded one at a time."""
        data = self.table.data
        skip = data.offset_key
        for key, raw in self._db(partition).items():
            if key != skip:
                yield key.decode(), self._decode(raw)

    def changelog(self, outbox: Outbox, partition: int, items: list) -> None:
        """Sends the items' changelog records through `outbox`. A value the outbox refuses (over
        its record limit) is logged and left out of `install` too: the table keeps the value it
        had, as its changelog does."""
        topic = self.table.changelog_topic.get_topic_name()
        encode = self.codec.encoder.encode
        encoded: list[bytes | None] = []
        for key, value in items:
            raw = encode(value)
            if outbox.add(topic, partition, key.encode(), raw):
                encoded.append(raw)
            else:
                log.error("table %s: the value of %r (%d bytes) not stored", topic, key, len(raw))
                encoded.append(None)
        if len(self._encoded) > 4 * 64:  # never installed (a failed commit stops the worker)
            self._encoded.clear()
        self._encoded[id(items)] = (items, encoded)

    def install(self, partition: int, items: list) -> None:
        """Writes values whose changelog records were sent (never before: Faust's recovery
        replays the changelog over the local state, which must not be ahead of it)."""
        index = self.table.data._key_index  # Faust's key → partition, for its own reads
        sent = self._encoded.pop(id(items), None)
        if sent is not None and sent[0] is items:
            encoded = sent[1]
        else:
            encoded = [self.codec.encoder.encode(value) for _, value in items]
        batch = rocksdict.WriteBatch(raw_mode=True)
        for (key, value), raw in zip(items, encoded, strict=True):
            if raw is None:  # refused by the changelog's outbox
                if self.cache_items:
                    self._forget(key)
                continue
            raw_key = key.encode()
            batch.put(raw_key, raw)
            index[raw_key] = partition
            if self.cache_items:
                self._remember(key, value)
        self._db(partition).write(batch)

    def _forget(self, key: str) -> None:
        old = self._cache.pop(key, None)
        if old is not None:
            self._cached -= len(old) + 1


def incident_partition(partitions: int) -> Callable[[str], int]:
    """The partition of an incidents-table key: the street (or district) leading the id, as
    `Engine.partition_of`."""
    of_street = street_partitions(partitions)

    def partition_of(incident_id: str) -> int:
        street = partition_key_of(incident_id)
        return of_street(street) if street else partition_for(incident_id, partitions)

    return partition_of


def bucket_partition(partitions: int) -> Callable[[str], int]:
    """The partition of a repeats-table key: an index value `<street>|<category>|<place>` lives
    with its street, a restore marker `#restored/<n>` on partition n."""
    of_street = street_partitions(partitions)

    def partition_of(key: str) -> int:
        if key.startswith("#restored/"):
            return int(key.rsplit("/", 1)[1])
        return of_street(key.split("|", 1)[0])

    return partition_of


def claim_state_dir(root: Path) -> Path:
    """A local state directory of this worker process under `root`, emptied.

    Workers of one stack share a home, and RocksDB allows one process per database: each worker
    holds a lock on a slot of its own (released when it exits, SIGKILL included). The slot is
    wiped because the embedded broker loses its topics on restart: the databases' persisted
    changelog offsets would then point past the new changelogs (Faust refuses such state, or
    skips recovery when a changelog is empty), so the worker rebuilds from the changelog, or from
    ClickHouse, as it did with the memory store.
    """
    root.mkdir(parents=True, exist_ok=True)
    slot = 0
    while True:
        handle = os.open(root / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            slot += 1
            continue
        _held_locks.append(handle)  # kept open for the life of the process
        path = root / f"slot-{slot}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir()
        return path


_held_locks: list[int] = []
