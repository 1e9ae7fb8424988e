"""What a broker death loses: reports published at a steady rate to a running worker, the broker
SIGKILLed under that load, then which acknowledged events never reach ClickHouse.

    python -m cityops.bench.loss --rate 200 --rate 2000            # the memory engine
    python -m cityops.bench.loss --rate 200 --rate 2000 --durable  # restart on the same store

The memory engine loses the events the broker acknowledged that the worker had not yet stored
(docs/operations.md, "The broker: what the embedded one can lose"); with `--durable` the broker is
restarted on its store and the measure is whether every acknowledged event is stored after it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

from cityops.bench.events import publish_all, sample_reports
from cityops.deploy import services as svc
from cityops.schemas.topics import Topics
from cityops.settings import Settings
from cityops.storage.client import ClickHouseTarget, connect, migrate
from cityops.topics_admin import all_topics, create_topics


@dataclass
class SteadyPublisher:
    """Publishes (key, value) pairs at `rate` per second with acks from the broker, and records
    which indexes the broker acknowledged."""

    bootstrap: str
    topic: str
    pairs: list[tuple[bytes, bytes]]
    rate: float
    acked: set[int] = field(default_factory=set)
    failed: int = 0
    sent: int = 0
    stopping: bool = False

    async def run(self) -> None:
        from aiokafka import AIOKafkaProducer
        from aiokafka.errors import KafkaTimeoutError

        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", linger_ms=5, request_timeout_ms=5000
        )
        await producer.start()
        pending: list[asyncio.Future] = []
        started = time.monotonic()
        try:
            while not self.stopping and self.sent < len(self.pairs):
                due = min(len(self.pairs), int(self.rate * (time.monotonic() - started)))
                while self.sent < due and not self.stopping:
                    key, value = self.pairs[self.sent]
                    try:
                        future = await producer.send(self.topic, value, key=key)
                    except KafkaTimeoutError:  # buffer full, the broker gone: not acknowledged
                        self.failed += 1
                        self.stopping = True
                        break
                    future.add_done_callback(self._done(self.sent))
                    pending.append(future)
                    self.sent += 1
                await asyncio.sleep(0.005)
            await asyncio.wait(pending, timeout=15) if pending else None
        finally:
            try:
                await asyncio.wait_for(producer.stop(), 10)
            except (TimeoutError, Exception):  # noqa: BLE001 - the broker may be dead
                pass

    def _done(self, index: int):
        def record(future: asyncio.Future) -> None:
            if future.cancelled() or future.exception() is not None:
                self.failed += 1
            else:
                self.acked.add(index)

        return record


# No record for this long ends a read that has not reached the high watermark: the durable broker
# was seen answering a long backlog at ~20 records/s beside a running stack (docs/operations.md).
QUIET_SECONDS = 120.0
READ_TIMEOUT = 1200.0


async def topic_ids(bootstrap: str, topic: str, partitions: int) -> set[str]:
    """The event ids in `topic`, read from offset 0 until nothing more arrives."""
    return await unread_ids(bootstrap, topic, partitions, group=None)


async def unread_ids(bootstrap: str, topic: str, partitions: int, group: str | None) -> set[str]:
    """The event ids in `topic` at or after `group`'s committed offsets (all of a partition the
    group never committed; with no group, all of them): what its consumer has not yet taken on,
    read until nothing more arrives. Does not join the group (manual assignment; the offsets
    are only fetched)."""
    import orjson

    return await _ids_after_commit(
        bootstrap, topic, partitions, group, lambda value: (orjson.loads(value)["id"],)
    )


async def unapplied_ids(bootstrap: str, topic: str, partitions: int, group: str) -> set[str]:
    """The ids of the items in the bundles of `topic` (cityops.internal.bundles) at or after the
    engine group's committed offsets: events the bridge forwarded that the engine has not yet
    applied and committed."""
    import msgspec

    from cityops.streams.incidents.model import Bundle

    decoder = msgspec.msgpack.Decoder(Bundle)

    def ids(value: bytes) -> list[str]:
        return [i for i in (getattr(item, "id", None) for item in decoder.decode(value).items) if i]

    return await _ids_after_commit(bootstrap, topic, partitions, group, ids)


async def _ids_after_commit(
    bootstrap: str,
    topic: str,
    partitions: int,
    group: str | None,
    ids_of: Callable[[bytes], Iterable[str]],
    *,
    quiet_seconds: float = QUIET_SECONDS,
    timeout: float = READ_TIMEOUT,
) -> set[str]:
    """Reads until every partition's position reached the high watermark its last fetch
    reported; a slow (durable) broker may answer empty fetches meanwhile, so silence ends the
    read only after `quiet_seconds` (a hole at a log's end is never reached); at most
    `timeout` seconds."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        # A backlog read: Tansu bounds each fetch's work by its max wait (docs/operations.md)
        fetch_max_wait_ms=1000,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        next_offset = {}
        for tp in tps:
            next_offset[tp] = (group and await consumer.committed(tp)) or 0
            consumer.seek(tp, next_offset[tp])
        ids: set[str] = set()
        began = last_read = time.monotonic()
        while time.monotonic() - began < timeout:
            batch = await consumer.getmany(timeout_ms=1000)
            if batch:
                last_read = time.monotonic()
            for tp, records in batch.items():
                for record in records:
                    ids.update(ids_of(record.value))
                if records:
                    next_offset[tp] = records[-1].offset + 1
            # highwater: None until a fetch of that partition answered
            if all(
                (hw := consumer.highwater(tp)) is not None and hw <= next_offset[tp] for tp in tps
            ):
                break
            if time.monotonic() - last_read >= quiet_seconds:
                break
        return ids
    finally:
        await consumer.stop()


def split_unstored(
    acked: set[str], stored: set[str], unread: set[str], unapplied: AbstractSet[str] = frozenset()
) -> tuple[int, int, int]:
    """(lost, behind, unapplied) of the acknowledged events missing from ClickHouse: `behind`
    are those the intake group has not read yet (delayed, still in city.events), `unapplied` of
    the rest those still in bundles the engine has not committed (delayed, still in the bundles
    log), `lost` the others: read and bundled, or read and never bundled, and not stored."""
    missing = acked - stored
    behind = missing & unread
    waiting = (missing - behind) & unapplied
    return len(missing) - len(behind) - len(waiting), len(behind), len(waiting)


def stored_ids(client, database: str) -> set[str]:
    return {row[0] for row in client.execute(f"SELECT DISTINCT id FROM {database}.events")}


def wait_stable(read, quiet: float, timeout: float):
    """Polls `read()` until its value has not changed for `quiet` seconds; returns the value."""
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        time.sleep(0.25)
        current = read()
        if current != value:
            value, since = current, time.monotonic()
    return value


def kill(proc: svc.Process) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    if proc.popen is not None:
        proc.popen.wait(10)


@dataclass
class LossResult:
    rate: float
    acked: int
    stored: int
    lost: int
    seconds_of_traffic: float
    behind_at_kill: float  # seconds of traffic acknowledged but not yet stored just before it
    recovered_in: float | None = None
    worker_restarts: int = 0  # exits of the worker (restarted as deploy/supervisor.py would)


def run_once(
    *,
    rate: float,
    warmup: float,
    home: Path,
    target: ClickHouseTarget,
    start_broker,
    restart_broker=None,
    outage: float = 0.0,
) -> LossResult:
    """One measurement: a worker on a fresh prefix and database, `warmup` seconds of traffic at
    `rate`, a broker SIGKILL, then (with `restart_broker`) a restart, and the acknowledged events
    missing from ClickHouse once it has stopped changing."""
    token = uuid.uuid4().hex[:8]
    database = f"loss_{token}"
    client = connect(target.with_database(database), database=False)
    migrate(client, database)
    broker, bootstrap = start_broker()
    settings = Settings(
        home=home,
        kafka_bootstrap=bootstrap,
        clickhouse_url=target.with_database(database).url(),
        topic_prefix=f"l{token}.",
        partitions=4,
        database=database,
    )
    create_topics(bootstrap, all_topics(settings), settings.partitions)
    run = f"l{token}"
    pairs = sample_reports(int(rate * (warmup + 60)), seed=5, run=run)
    worker = svc.start_worker(settings, home / f"worker-{token}.log")
    restarts = 0

    def supervised():
        """The worker, restarted if it exited (the worker exits when its engine cannot go on
        safely; `cityops up` restarts it)."""
        nonlocal worker, restarts
        if worker.poll() is not None:
            restarts += 1
            print(f"worker exited with {worker.returncode}; restarting it", flush=True)
            worker = svc.start_worker(settings, home / f"worker-{token}-{restarts}.log")
        return worker

    topic = Topics(settings.topic_prefix).events
    prime = int(rate)  # one second's worth, stored before the steady traffic starts
    publisher = SteadyPublisher(bootstrap, topic, pairs[prime:], rate)
    recovered_in = None
    behind: list[int] = []  # acknowledged but not yet stored just before the kill
    live = {"broker": broker}
    try:
        asyncio.run(publish_all(bootstrap, topic, pairs[:prime]))
        deadline = time.monotonic() + 120
        while len(stored_ids(client, database)) < prime:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"the worker did not store the first {prime} events")
            time.sleep(0.25)

        async def traffic() -> None:
            task = asyncio.create_task(publisher.run())
            await asyncio.sleep(warmup)
            behind.append(len(publisher.acked) + prime - len(stored_ids(client, database)))
            kill(live["broker"])
            live["killed"] = time.monotonic()
            publisher.stopping = True
            if restart_broker:  # as a supervisor would: requests in flight are retried
                await asyncio.sleep(outage)
                live["broker"] = await asyncio.to_thread(restart_broker)
            await task

        asyncio.run(traffic())
        acked_ids = {f"{run}-{prime + i}" for i in publisher.acked}
        if restart_broker is not None:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and not acked_ids <= stored_ids(client, database):
                supervised()
                time.sleep(0.5)
            recovered_in = time.monotonic() - live["killed"]

        def stored_now() -> set[str]:
            supervised()
            return stored_ids(client, database) & acked_ids

        stored = wait_stable(stored_now, 4.0, 60)
        if restart_broker is not None and stored != acked_ids:
            in_topic = asyncio.run(topic_ids(bootstrap, topic, settings.partitions))
            missing = acked_ids - stored
            print(
                f"{len(missing)} missing from ClickHouse, {len(missing & in_topic)} of them in "
                f"{topic}; e.g. {sorted(missing)[:5]}",
                flush=True,
            )
            # Not counted as stored: whether a worker restart (SIGTERM, start) brings them.
            if supervised().poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(60)
            worker = svc.start_worker(settings, home / f"worker-{token}-again.log")
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not acked_ids <= stored_ids(client, database):
                time.sleep(0.5)
            still = len(acked_ids - stored_ids(client, database))
            print(f"after a worker restart: {still} acknowledged events missing", flush=True)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        svc.stop(live["broker"])
        client.execute(f"DROP DATABASE IF EXISTS {database}")
        client.disconnect()
    lost = len(acked_ids) - len(stored)
    return LossResult(
        rate,
        len(acked_ids),
        len(stored),
        lost,
        lost / rate,
        behind[0] / rate,
        recovered_in,
        restarts,
    )


def produce_rates(home: Path, n: int) -> dict[str, float]:
    """Events/s of `publish_all` (aiokafka, acknowledged) for n reports into a 4-partition topic,
    on the memory engine and on the durable one, one after the other in the same run."""
    from cityops.deploy import durable

    pairs = sample_reports(n, seed=3, run="produce")
    store = durable.start_object_store(home)
    rates = {}
    try:
        for engine in ("memory", "durable"):
            port = svc.free_port()
            bootstrap = f"127.0.0.1:{port}"
            if engine == "memory":
                broker = svc.start_broker(home, port)
            else:
                broker = durable.start_durable_broker(home, port, store)
            try:
                create_topics(bootstrap, ["produce"], 4)
                rates[engine] = n / asyncio.run(publish_all(bootstrap, "produce", pairs))
            finally:
                svc.stop(broker)
    finally:
        svc.stop(store.proc)
        durable.remove_sockets(home)
    return rates


def main(argv: list[str] | None = None) -> int:
    from cityops.deploy import durable

    parser = argparse.ArgumentParser(prog="python -m cityops.bench.loss")
    parser.add_argument("--rate", type=float, action="append", default=[])
    parser.add_argument("--produce", type=int, metavar="N", help="only: produce N, both engines")
    parser.add_argument(
        "--warmup", type=float, default=20.0, help="seconds of load before the kill"
    )
    parser.add_argument("--durable", action="store_true")
    parser.add_argument("--outage", type=float, default=0.0, help="--durable: seconds down")
    args = parser.parse_args(argv)
    # The producer logs every failed reconnect to the killed broker; the result line is the output.
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    home = Path(tempfile.mkdtemp(prefix="cityops-loss-"))
    if args.produce:
        try:
            for engine, rate in produce_rates(home, args.produce).items():
                print(f"{engine}: {rate:,.0f} events/s produced", flush=True)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        return 0
    tcp, http = svc.free_port(), svc.free_port()
    clickhouse = svc.start_clickhouse(home, tcp, http)
    store = durable.start_object_store(home) if args.durable else None
    port = svc.free_port()
    bootstrap = f"127.0.0.1:{port}"

    def start():
        if store is None:
            return svc.start_broker(home, port), bootstrap
        return durable.start_durable_broker(home, port, store), bootstrap

    try:
        for rate in args.rate:
            result = run_once(
                rate=rate,
                warmup=args.warmup,
                home=home,
                target=ClickHouseTarget(port=tcp, database="default"),
                start_broker=start,
                restart_broker=(lambda: start()[0]) if store else None,
                outage=args.outage,
            )
            print(result, flush=True)
    finally:
        if store is not None:
            svc.stop(store.proc)
            durable.remove_sockets(home)
        svc.stop(clickhouse)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
