"""`cityops bench scaling`: the pipeline with one worker and with two on the same events (the
simulator's everyday mix), timed as the throughput suite times it."""

from __future__ import annotations

from cityops.bench.env import BenchEnv
from cityops.bench.events import event_mix
from cityops.bench.pipeline import run_pipeline
from cityops.bench.throughput import ratio


def scaling(env: BenchEnv, events: int) -> dict:
    pairs = event_mix(events)
    one = run_pipeline(env, pairs, workers=1)
    two = run_pipeline(env, pairs, workers=2)
    return {
        "events": events,
        "one_worker": one,
        "two_workers": two,
        "speedup": ratio(two["eps"], one["eps"]),
    }


def suite(env: BenchEnv, events=None, quick=False) -> dict:
    return scaling(env, events or (5_000 if quick else 200_000))
