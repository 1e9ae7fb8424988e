"""`cityops bench NAME [--json] [--quick]`: runs one suite (or all, in this order) in the broker
and ClickHouse of bench/env.py, writes bench/results/NAME.json and prints the result (one JSON
object per suite with --json, else a table). Each suite is the `suite(env, events, quick, ...)`
function of its module, imported only when it runs."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable

from cityops.settings import Settings

# suite name -> its module; `cityops bench all` runs them in this order
SUITES = {
    "validator": "cityops.bench.validator",
    "engine": "cityops.bench.engine",
    "throughput": "cityops.bench.throughput",
    "latency": "cityops.bench.latency",
    "scaling": "cityops.bench.scaling",
    "memory": "cityops.bench.memory",
    "publishing": "cityops.bench.publishing",
    "storage": "cityops.bench.storage",
    "readings": "cityops.bench.readings",
    "disk": "cityops.bench.disk",
    # what each materialized view costs ClickHouse per event (side-by-side databases)
    "writes": "cityops.bench.writes",
    # starts its own ClickHouse cluster (ZooKeeper and 2 × 2 nodes)
    "cluster": "cityops.bench.cluster",
    # the fault matrix: kills the broker and ClickHouse, so it starts its own stack; not in `all`
    "chaos": "cityops.bench.chaos",
}
NOT_IN_ALL = {"chaos"}


def suite(name: str) -> Callable[..., dict]:
    """The suite's function: (env, events=None, quick=False, **options) -> result dict."""
    return importlib.import_module(SUITES[name]).suite


def print_table(name: str, result: dict) -> None:
    print(f"{name}")
    for key, value in result.items():
        if isinstance(value, dict):
            inner = ", ".join(
                f"{k}={v}" for k, v in value.items() if not isinstance(v, (dict, list))
            )
            print(f"  {key:22} {inner}")
        elif key != "machine":
            print(f"  {key:22} {value}")


def run_bench(
    settings: Settings,
    name: str,
    *,
    as_json: bool,
    events: int | None,
    quick: bool,
    rates: tuple[float, ...] | None = None,
    profile: bool = False,
    seed: int = 1,
    durable: bool = False,
) -> int:
    from cityops.bench.env import bench_services, write_result

    if name == "chaos":
        from cityops.bench.chaos import print_rows

        result = suite("chaos")(None, quick=quick, seed=seed, durable=durable)
        path = write_result("chaos", result)
        if as_json:
            print(json.dumps(result))
        else:
            print_rows(result)
            print(f"  written to {path}")
        return 0
    names = [n for n in SUITES if n not in NOT_IN_ALL] if name == "all" else [name]
    with bench_services(settings) as env:
        for one in names:
            options: dict = {"rates": rates} if one in ("latency", "disk") and rates else {}
            if one == "throughput" and profile:
                options["profile"] = True
            result = suite(one)(env, events=events, quick=quick, **options)
            path = write_result(one, result)
            if as_json:
                print(json.dumps(result))
            else:
                print_table(one, result)
                print(f"  written to {path}")
    return 0
