"""`cityops bench readings` (or `python -m cityops.bench.readings [N]`): sensor readings per second
per worker core on the early-warning path, stage by stage, in one process:

- bridge: validate a city.reading.v1 (parse_event), make its ReadingIn, pack bundles (msgpack);
- agent: decode the bundles and apply them (one row each, the water-level and other rules on
  every (department, sensor, rule) state, over in-memory tables: the worker's RocksDB reads cost
  a little more);
- store: the rows inserted into the real ClickHouse of the bench (`readings`, 20,000-row batches).

Readings come from the simulator's sensor population, scaled to `SENSORS` sensors. A worker runs
the bridge on one core and the agent (with its inserts) on the other, so readings/s per core is
1 / the CPU time per reading of each side; `per_worker_rps` is the slower side's. CPU time is the
measure (other jobs on a shared machine do not count), except for the insert, which is wall time
of the round trip (the server works in its own process).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime

import msgspec

from cityops.schemas.events import parse_event
from cityops.schemas.registry import load_registry
from cityops.storage.client import ClickHouseTarget
from cityops.storage.writer import ClickHouseWriter
from cityops.streams.clock import Clock
from cityops.streams.publish.simulator.run import reading_event
from cityops.streams.publish.simulator.sensors import SensorPopulation
from cityops.streams.readings.bridge import encode_readings, reading_item
from cityops.streams.readings.engine import ReadingsEngine
from cityops.streams.readings.model import ReadingBundle, ReadingItem
from cityops.streams.readings.rules import load_rules

START = datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
SENSORS = 4_600  # ten times the simulator's default city
BUNDLE = 2_000


def sample(n: int) -> list[bytes]:
    """n encoded readings of a rainstorm (its gauges cross the water-level line)."""
    registry = load_registry()
    population = SensorPopulation(7, "rainstorm", registry, scale=SENSORS / 460)
    start = START.timestamp()
    due: list[tuple[float, dict]] = []
    t = start
    while len(due) < n:
        due += population.readings(start, t, t + 600)
        t += 600
    return [
        msgspec.json.encode(reading_event(data, at, datetime.fromtimestamp(at, UTC)))
        for at, data in due[:n]
    ]


def bench_readings(n: int, target: ClickHouseTarget | None) -> dict:
    registry = load_registry()
    payloads = sample(n)
    clock = Clock()
    now = datetime.fromtimestamp(START.timestamp() + 7200, UTC)
    received = START

    # bridge: validate, ReadingIn, bundles
    cpu = time.process_time()
    bundles = []
    items: list[ReadingItem] = []
    for payload in payloads:
        event = parse_event(payload, now=now, registry=registry)
        _, item = reading_item(event, event.data, clock.of(event.time), received)  # type: ignore[arg-type]
        items.append(item)
        if len(items) == BUNDLE:
            bundles.append(encode_readings(items))
            items = []
    if items:
        bundles.append(encode_readings(items))
    bridge = time.process_time() - cpu

    # agent: decode and apply (rules on every reading)
    rules = load_rules()
    engine = ReadingsEngine({}, {}, rules, 8, clock)
    decoder = msgspec.msgpack.Decoder(ReadingBundle)
    cpu = time.process_time()
    rows = []
    for raw in bundles:
        engine.apply(0, decoder.decode(raw).items)
        rows += engine.rows
        engine.rows = []
        states, _ = engine.take()
        for values in states.values():
            engine.states.update(values)  # type: ignore[attr-defined]  # a dict here
    agent = time.process_time() - cpu
    alarms = len(engine.alarms)

    store = None
    if target is not None:
        writer = ClickHouseWriter(target)
        started = time.perf_counter()
        for i in range(0, len(rows), 20_000):
            writer.flush({"readings": rows[i : i + 20_000]})
        store = time.perf_counter() - started
        writer.close()
    agent_side = agent + (store or 0.0)
    result = {
        "readings": n,
        "sensors": SENSORS,
        "rules": len(rules.rules),
        "alarms": alarms,
        "bridge_us": round(bridge / n * 1e6, 2),
        "agent_us": round(agent / n * 1e6, 2),
        "store_us": round(store / n * 1e6, 2) if store is not None else None,
        "bridge_rps_per_core": round(n / bridge),
        "agent_rps_per_core": round(n / agent_side),
        "per_worker_rps": round(n / max(bridge, agent_side)),
    }
    return result


def suite(env, events=None, quick=False) -> dict:
    n = events or (20_000 if quick else 200_000)
    settings, _ = env.isolated("readings")
    return bench_readings(n, settings.clickhouse)


if __name__ == "__main__":
    print(json.dumps(bench_readings(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, None)))
