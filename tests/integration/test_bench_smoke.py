"""Every `cityops bench` suite runs end to end at tiny sizes and writes a valid result file.
Never a pass/fail on a time: the numbers of a smoke run mean nothing."""

from __future__ import annotations

import json

import pytest

from cityops.bench import env as bench
from cityops.bench.run import suite

# (suite, events): a few hundred events; latency 300 events at 200/s (1.5 s).
SIZES = [
    ("validator", 300),
    ("engine", 300),
    ("throughput", 600),
    ("scaling", 400),
    ("latency", 300),
    ("memory", 300),
    ("publishing", 200),
    ("storage", 2000),
    ("writes", 300),
]


@pytest.fixture(scope="module")
def env(services, tmp_path_factory) -> bench.BenchEnv:
    """The session's broker and ClickHouse, as a benchmark environment; its databases are
    dropped at the end."""
    env = bench.BenchEnv(
        services.bootstrap, services.clickhouse, tmp_path_factory.mktemp("bench"), 4
    )
    yield env
    env.drop_databases()


@pytest.mark.parametrize(("name", "events"), SIZES, ids=[n for n, _ in SIZES])
def test_benchmark_runs_and_writes_a_result_file(env, tmp_path, name, events):
    result = suite(name)(env, events=events, quick=True)
    path = bench.write_result(name, result, tmp_path)
    written = json.loads(path.read_text())
    assert written["bench"] == name
    assert written["machine"]["cores"] >= 1 and written["machine"]["cpu"]
    assert written["machine"]["date"]
    if name == "throughput":
        assert {"pipeline_eps", "baseline_eps", "ratio", "events"} <= set(written)
        assert written["events"] == events
        assert written["pipeline"]["unique_ids_stored"] > 0
    if name == "latency":
        run = written["runs"][0]
        assert run["stored"] == run["events"] > 0
    if name == "memory":
        assert written["peak_rss_mb"] > 0 and written["open_incidents"] > 0
    if name == "writes":
        # every database (as shipped, without each view, without any) got the engine's rows
        assert written["rows_per_event"] > 1
        assert {"shipped", "no views"} <= set(written["writer_cpu_us_per_event"])
        assert len(written["writer_cpu_us_per_event"]) >= 3
