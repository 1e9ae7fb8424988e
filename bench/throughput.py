"""`cityops bench throughput`: the pipeline against the bare baseline, side by side in one run on
the same events (the simulator's everyday mix), each on its own topic and database. The method is
in bench/workers.py; `--profile` samples the engine with py-spy for 20 s (bench/profile.py)."""

from __future__ import annotations

from cityops.bench.baseline import run_baseline
from cityops.bench.env import BenchEnv
from cityops.bench.events import event_mix
from cityops.bench.pipeline import run_pipeline


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b; None when a run was too small to time (everything stored by the first insert)."""
    return round(a / b, 3) if a and b else None


def throughput(env: BenchEnv, events: int, profile_seconds: float | None = None) -> dict:
    pairs = event_mix(events)
    baseline = run_baseline(env, pairs)
    pipeline = run_pipeline(env, pairs, profile_seconds=profile_seconds)
    return {
        "events": events,
        "pipeline_eps": pipeline["eps"],
        "baseline_eps": baseline["eps"],
        "ratio": ratio(pipeline["eps"], baseline["eps"]),
        "pipeline": pipeline,
        "baseline": baseline,
        "partitions": env.partitions,
    }


def suite(env: BenchEnv, events=None, quick=False, profile=False) -> dict:
    return throughput(env, events or (5_000 if quick else 200_000), 20.0 if profile else None)
