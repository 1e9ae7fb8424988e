"""A rolling upgrade as docs/deployment.md orders it: the migrations run first against the live
database (a no-op when nothing is new, never a rewrite of what is stored), then the workers are
restarted one at a time while events keep arriving. Nothing may be lost or stored twice, and each
restarted worker takes partitions again before the next one goes."""

from __future__ import annotations

import uuid

from cityops.bench.events import sample_reports
from cityops.deploy import services as svc
from cityops.storage.client import migrate
from tests.integration.test_engine import Stack, expected_incidents, in_one_order, make_stack

N = 9_000


def restart(stack: Stack, what: str) -> None:
    """SIGTERM (a clean stop: exit status 0), then a new process of the same worker."""
    assert stack.stop() == 0, svc.log_tail(stack.log, 30)
    stack.log = stack.log.with_name(f"{stack.log.stem}-new.log")
    stack.start()
    stack.wait(
        f"{what} applying bundles again",
        lambda: "first bundle at offset" in stack.log.read_text(),
        timeout=120,
    )


def test_workers_restarted_one_at_a_time_under_load_lose_nothing(request, services, tmp_path):
    first = make_stack(request, services.bootstrap, services.clickhouse, tmp_path)
    second = Stack(first.settings, first.ch, tmp_path / "worker-2.log")
    pairs = in_one_order(sample_reports(N, seed=29, run=f"u{uuid.uuid4().hex[:6]}"))
    third = N // 3
    try:
        first.start()
        second.start()
        first.send(*pairs[:third])
        first.wait(
            "both workers applying bundles",
            lambda: all("first bundle at offset" in s.log.read_text() for s in (first, second)),
            timeout=120,
        )
        # 1. migrations first, on the live database: nothing new, nothing rewritten
        tables = "SELECT count() FROM system.tables WHERE database = %(d)s"
        before = first.q(tables, {"d": first.db})
        migrate(first.ch, first.db)
        after = first.q(tables, {"d": first.db})
        assert before == after
        # 2. the workers one at a time, events arriving in between
        restart(first, "the first worker")
        first.send(*pairs[third : 2 * third])
        restart(second, "the second worker")
        first.send(*pairs[2 * third :])
        first.wait(
            f"all {N:,} event ids stored",
            lambda: first.q("SELECT uniqExact(id) FROM {db}.events")[0][0] == N,
            timeout=240,
        )
        assert first.stop() == 0, svc.log_tail(first.log, 30)
        assert second.stop() == 0, svc.log_tail(second.log, 30)
    finally:
        second.stop()
        first.stop()
    assert first.q("SELECT count() FROM {db}.events FINAL") == [(N,)]
    assert first.q("SELECT uniqExact(incident_id) FROM {db}.incidents")[0][0] == (
        expected_incidents(pairs)
    )
    first.ch.disconnect()
