"""`cityops bench engine` (or `python -m cityops.bench.engine --events 100000`): the CPU cost per
event of the incident engine's pure apply path, in process: the worker's Engine over in-memory
tables, fed the simulator's events as the intake bridge bundles them. No broker, no ClickHouse:
rows stay in the writer's batches.

Timed, per bundle, is what the worker does besides Kafka and ClickHouse I/O: `Engine.apply`
(decisions, rows, messages into the outbox) and, every few fetches, the commit's hand-over
(`table_writes`, the writer's `detach`, installing the table values). Events are generated, checked
and decoded ahead of time, as streams/intake.py does (bundles round-tripped through msgpack, as the
worker receives them), so none of that is timed. CPU time (the process's) is the measure: on a
shared machine wall time also counts the time other jobs held the core. The garbage collector is
set up as in the worker (`tune_gc`) and its collections count: they are part of the cost.

Tables are plain dicts of the values (as in the unit tests), or with `--store msgpack` the values'
msgpack bytes, decoded at every read as the worker's RocksDB store does outside its cache: the
worker lies between the two. `--check` prints a digest of everything handed to the edge (rows as
ClickHouse receives them, messages, table values): an optimisation must leave it unchanged. One
measured run per process: caches that live for the process would be warm in a second run.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import pstats
import time
from datetime import UTC, datetime, timedelta

import msgspec

from cityops.schemas.registry import load_registry
from cityops.schemas.topics import Topics
from cityops.storage.client import ClickHouseTarget
from cityops.storage.writer import ClickHouseWriter
from cityops.streams.clock import Clock
from cityops.streams.incidents.engine import Engine, Store
from cityops.streams.incidents.model import Bundle, Incident, Item, Tick
from cityops.streams.incidents.policy import load_policy
from cityops.streams.incidents.repeat import Candidate
from cityops.streams.intake import BUNDLE_MAX_ITEMS, encode_bundle, to_item
from cityops.streams.kafka import Outbox, partition_for
from cityops.streams.tuning import tune_gc

START = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # fixed, so a seed always gives the same events
FETCH_EVENTS = 2_000  # events per fetch of the bridge (its LINGER_ITEMS)
COMMIT_FETCHES = 4  # ~8,000 events per commit, about what the worker applies in flush_seconds


def fetches(events: int, seed: int, partitions: int) -> list[list[tuple[int, bytes]]]:
    """The simulator's events as the bridge packs them: per fetch of FETCH_EVENTS, one encoded
    bundle per partition (at most BUNDLE_MAX_ITEMS items), each ending in a clock tick at the
    fetch's last event time (so SLA timers fire as city time passes)."""
    import orjson

    from cityops.streams.publish.simulator.run import DEFAULT_INTERVAL, generate

    registry = load_registry()
    policy = load_policy()
    clock = Clock()
    now = START + timedelta(seconds=events * DEFAULT_INTERVAL)  # validation's "current time"
    generated = generate(seed, "normal", START, events)
    out = []
    for first in range(0, events, FETCH_EVENTS):
        per_partition: dict[int, list[Item]] = {p: [] for p in range(partitions)}
        for offset, event in enumerate(generated[first : first + FETCH_EVENTS], first):
            sent = START + timedelta(seconds=offset * DEFAULT_INTERVAL)
            routing, item = to_item(
                orjson.dumps(event),
                None,
                event["partitionkey"].encode(),
                int(sent.timestamp() * 1000) + 3,  # the broker's timestamp, 3 ms later
                f"city.events/0/{offset}",
                now=now,
                clock=clock,
                registry=registry,
                policy=policy,
            )
            assert item is not None  # reports only: no claim events here
            per_partition[partition_for(routing, partitions)].append(item)
        fetch = []
        for partition, items in per_partition.items():
            items.append(Tick(sent))
            for at in range(0, len(items), BUNDLE_MAX_ITEMS):
                fetch.append((partition, encode_bundle(items[at : at + BUNDLE_MAX_ITEMS])))
        out.append(fetch)  # [(partition, bundle bytes)]
    return out


class Timer:
    """CPU and wall seconds of the timed sections; optionally a profiler running in them only."""

    def __init__(self, profile: cProfile.Profile | None = None) -> None:
        self.cpu = self.wall = 0.0
        self.profile = profile

    def __enter__(self) -> Timer:
        if self.profile is not None:
            self.profile.enable()
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu += time.process_time() - self._cpu
        self.wall += time.perf_counter() - self._wall
        if self.profile is not None:
            self.profile.disable()


class Digest:
    """A hash of everything the engine hands to the edge: rows, messages, table values."""

    def __init__(self) -> None:
        self.hash = hashlib.blake2b(digest_size=12)

    def add(self, batch: dict[str, list], outbox: Outbox, table_writes) -> None:
        rows = [[table, [_as_stored(row) for row in rows]] for table, rows in batch.items()]
        # (Outbox keeps its records per (topic, partition); read here only to check them.)
        records = [[list(where), records] for where, records in outbox._records.items()]
        self.hash.update(msgspec.msgpack.encode([rows, records, list(table_writes)]))

    def hexdigest(self) -> str:
        return self.hash.hexdigest()


def _as_stored(row: tuple) -> list:
    """A row as ClickHouse receives it: a str column value goes out as UTF-8 bytes, the same
    whether the row carries the str or the bytes."""
    return [value.encode() if isinstance(value, str) else value for value in row]


class EncodedStore:
    """A table whose values are kept as the changelog's msgpack bytes and decoded at every read,
    as the worker's FaustStore does for a value that is not in its cache (RocksDB, minus the
    disk): the decoding, and the fresh objects it makes, count as they do in the worker."""

    def __init__(self, kind) -> None:
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(kind).decode
        self._values: dict[str, bytes] = {}

    def get(self, key: str, default=None):
        raw = self._values.get(key)
        return default if raw is None else self._decode(raw)

    def items(self):
        return ((key, self._decode(raw)) for key, raw in self._values.items())

    def update(self, items) -> None:
        self._values.update((key, self._encode(value)) for key, value in items)


def run(
    bundles: list[list[tuple[int, bytes]]],
    partitions: int,
    apply: Timer,
    commit: Timer,
    digest: Digest | None = None,
    encoded: bool = False,
) -> Engine:
    """Applies every bundle to a fresh engine, committing every COMMIT_FETCHES fetches. With a
    `digest`, what each commit hands over is added to it (untimed, but its allocations change
    when the garbage collector runs: time without it). `encoded`: tables of msgpack bytes
    (`EncodedStore`) instead of plain dicts of the objects themselves."""
    decoder = msgspec.msgpack.Decoder(Bundle)
    decoded = [[(p, decoder.decode(raw).items) for p, raw in fetch] for fetch in bundles]
    incidents: Store = EncodedStore(Incident) if encoded else {}
    repeats: Store = EncodedStore(list[Candidate]) if encoded else {}
    writer = ClickHouseWriter(ClickHouseTarget(database="bench_engine"))
    engine = Engine(incidents, repeats, writer, Topics(), partitions, load_policy())
    in_flight = None
    tune_gc()
    for number, fetch in enumerate(decoded, 1):
        with apply:
            for partition, items in fetch:
                engine.apply(partition, items)
        if number % COMMIT_FETCHES and number != len(decoded):
            continue
        with commit:
            if in_flight is not None:  # the commit before lands: its values go into the tables
                _install(incidents, repeats, in_flight)
                engine.landed()
            in_flight = engine.table_writes()
            batch = writer.detach()
            outbox, engine.outbox = engine.outbox, Outbox()
        if digest is not None:
            digest.add(batch, outbox, in_flight)
    with commit:
        _install(incidents, repeats, in_flight)
        engine.landed()
    return engine


def _install(incidents, repeats, writes) -> None:
    for items in writes[0].values():
        incidents.update(items)
    for items in writes[1].values():
        repeats.update(items)


def bench_engine(events: int, seed: int = 7, partitions: int = 8, store: str = "dict") -> dict:
    """The numbers of one measured run, for `cityops bench engine` (bench/results/engine.json)."""
    bundles = fetches(events, seed, partitions)
    apply, commit = Timer(None), Timer(None)
    engine = run(bundles, partitions, apply, commit, None, store == "msgpack")
    per_event = 1e6 / events
    return {
        "events": events,
        "tables": store,
        "bundles": sum(len(fetch) for fetch in bundles),
        "incident_changes": engine.applied,
        "rejects": engine.rejected,
        "apply_cpu_us_per_event": round(apply.cpu * per_event, 1),
        "commit_cpu_us_per_event": round(commit.cpu * per_event, 1),
        "total_cpu_us_per_event": round((apply.cpu + commit.cpu) * per_event, 1),
        "method": "in process, no broker or ClickHouse; CPU time of Engine.apply and hand-over",
    }


def suite(env, events=None, quick=False) -> dict:
    return bench_engine(events or (2_000 if quick else 100_000))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--check", action="store_true", help="print the output's digest")
    parser.add_argument(
        "--store",
        choices=("dict", "msgpack"),
        default="dict",
        help="tables of objects, or of msgpack bytes decoded at every read (as RocksDB's)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile's busiest functions")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    bundles = fetches(args.events, args.seed, args.partitions)
    prepared = time.perf_counter() - started
    profile = cProfile.Profile() if args.profile else None
    apply, commit = Timer(profile), Timer(profile)
    digest = Digest() if args.check else None
    engine = run(bundles, args.partitions, apply, commit, digest, args.store == "msgpack")

    per_event = 1e6 / args.events
    table = [
        ("events", f"{args.events:,}"),
        ("tables", args.store),
        ("bundles", f"{sum(len(fetch) for fetch in bundles):,}"),
        ("incident changes", f"{engine.applied:,}"),
        ("rejects", f"{engine.rejected:,}"),
        ("prepared in (s)", f"{prepared:.1f}"),
        ("apply CPU µs/event", f"{apply.cpu * per_event:.1f}"),
        ("commit CPU µs/event", f"{commit.cpu * per_event:.1f}"),
        ("total CPU µs/event", f"{(apply.cpu + commit.cpu) * per_event:.1f}"),
        ("total wall µs/event", f"{(apply.wall + commit.wall) * per_event:.1f}"),
    ]
    if digest is not None:
        table.append(("output digest", digest.hexdigest()))
    if profile is not None:
        table.append(("note", "timed under cProfile (slower)"))
    width = max(len(name) for name, _ in table)
    for name, value in table:
        print(f"{name:<{width}}  {value}")
    if profile is not None:
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(args.top)
        print(text.getvalue())


if __name__ == "__main__":
    main()
