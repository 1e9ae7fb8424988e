"""Structured logs, the rotating log pipe and the readiness verdicts (docs/operations.md)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from cityops.deploy.logpipe import RotatingFile, copy
from cityops.health import Cached, Check, lag_verdict, readiness
from cityops.logjson import JsonFormatter, configure_logging


def _record(message: str, *args, **extra) -> logging.LogRecord:
    record = logging.LogRecord("cityops.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


@pytest.mark.parametrize(
    "text",
    [
        "line one\nline two",
        "carriage\rreturn",
        "next line\x85here",
        "line separator\u2028here",
        "paragraph\u2029here",
        "escape \x1b[31m red",
        "城市 事件\n第二行",
    ],
)
def test_client_text_stays_on_one_line_and_round_trips(text):
    line = JsonFormatter("gateway").format(_record("event %s refused", text))
    assert len(line.splitlines()) == 1
    assert json.loads(line)["message"] == f"event {text} refused"


def test_fields_and_extra_fields():
    line = JsonFormatter("worker").format(
        _record("applied", event_id="ev-1", incident_id="320102-1", count=3)
    )
    out = json.loads(line)
    assert out["service"] == "worker"
    assert out["level"] == "warning"
    assert out["logger"] == "cityops.test"
    assert out["time"].endswith("+00:00")
    assert (out["event_id"], out["incident_id"], out["count"]) == ("ev-1", "320102-1", 3)


def test_exception_text_is_one_field():
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", None, exc_info=__import__("sys").exc_info()
        )
    line = JsonFormatter("worker").format(record)
    assert len(line.splitlines()) == 1
    assert "ValueError: bad\nvalue" in json.loads(line)["exc"]


def test_configure_logging_writes_json_lines():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("simulator", "info", stream)
        logging.getLogger("cityops.sim").info("sent %d", 5, extra={"event_id": "e\n1"})
        logging.getLogger("cityops.sim").debug("not at info")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert (out["service"], out["message"], out["event_id"]) == ("simulator", "sent 5", "e\n1")


def test_log_pipe_rotates_by_size_at_line_ends(tmp_path):
    path = tmp_path / "worker.log"
    target = RotatingFile(path, max_bytes=4096, backups=2)
    lines = [f'{{"n": {n}, "pad": "{"x" * 90}"}}\n'.encode() for n in range(300)]
    source = io.BufferedReader(io.BytesIO(b"".join(lines)), buffer_size=777)
    copy(source, target)
    target.close()
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["worker.log", "worker.log.1", "worker.log.2"]
    for f in files:
        data = f.read_bytes()
        assert len(data) <= 4096
        assert data.endswith(b"\n")
        assert all(json.loads(line) for line in data.splitlines())
    # the newest lines are kept, in order, and nothing is cut
    kept = b"".join(f.read_bytes() for f in reversed(files)).splitlines(keepends=True)
    assert kept == lines[-len(kept) :]


@pytest.mark.parametrize(
    ("checks", "status", "failing"),
    [
        ({"broker": Check(True), "clickhouse": Check(True)}, 200, []),
        ({"broker": Check(True), "clickhouse": Check(False, "refused")}, 503, ["clickhouse"]),
        ({"broker": Check(False), "lag": Check(False)}, 503, ["broker", "lag"]),
        ({}, 200, []),
    ],
)
def test_readiness_names_the_failing_parts(checks, status, failing):
    code, body = readiness(checks)
    assert code == status
    assert body["failing"] == failing
    assert body["status"] == ("ready" if status == 200 else "unready")
    assert set(body["checks"]) == set(checks)


@pytest.mark.parametrize(
    ("lags", "bound", "verdict"),
    [
        ({}, 10, None),
        ({("g", "t", 0): 10, ("g", "t", 1): 0}, 10, None),
        ({("g", "t", 0): 11}, 10, "1 partitions over 10 messages behind: t[0]=11"),
        (
            {("g", "t", 0): 50, ("g", "u", 3): 70, ("g", "t", 2): 1},
            10,
            "2 partitions over 10 messages behind: u[3]=70, t[0]=50",
        ),
    ],
)
def test_lag_verdict(lags, bound, verdict):
    assert lag_verdict(lags, bound) == verdict


def test_cached_check_runs_once_per_ttl_and_names_exceptions():
    calls = []

    def failing():
        calls.append(1)
        raise ConnectionRefusedError("port 9000\nrefused")

    check = Cached(failing, ttl=60)
    first, second = check(), check()
    assert calls == [1]
    assert first is second
    assert not first.ok
    assert first.detail == "ConnectionRefusedError: port 9000"
    assert Cached(lambda: None, ttl=0)().ok


def _count_in_child(counters) -> None:
    counters.add(events_in=5, rejected=2, bundles=1)
    counters.set_lags({0: 7, 2: 0})


def test_bridge_counters_reach_the_parent_across_a_spawned_process():
    import multiprocessing

    from cityops.streams.metrics import BridgeCounters

    counters = BridgeCounters(3)
    assert counters.lags() == {}
    child = multiprocessing.get_context("spawn").Process(target=_count_in_child, args=(counters,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    counters.add(events_in=1)
    assert counters.snapshot() == {"events_in": 6, "rejected": 2, "bundles": 1}
    assert counters.lags() == {0: 7, 2: 0}
    counters.set_lags({1: 4, 9: 1})  # a partition beyond the slots is left out
    assert counters.lags() == {1: 4}


@pytest.mark.parametrize(
    ("last_beat", "now", "expected"),
    [(1000.0, 1000.0, False), (1000.0, 1119.0, False), (1000.0, 1121.0, True), (0.0, 1e9, True)],
)
def test_a_bridge_is_stalled_after_120_seconds_without_a_step(last_beat, now, expected):
    from cityops.streams.bridge_process import stalled

    assert stalled(last_beat, now) is expected


def _beat_in_child(counters) -> None:
    counters.beat(1234.5)


def test_the_bridges_beat_reaches_the_parent_across_a_spawned_process():
    import multiprocessing

    from cityops.streams.metrics import BridgeCounters

    counters = BridgeCounters(2)
    child = multiprocessing.get_context("spawn").Process(target=_beat_in_child, args=(counters,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert counters.last_beat == 1234.5


def test_the_worker_kills_a_live_bridge_child_that_stopped_stepping(tmp_path):
    import multiprocessing
    import time as _time

    from cityops.settings import Settings
    from cityops.streams.bridge_process import BridgeProcess
    from cityops.streams.metrics import BridgeCounters

    counters = BridgeCounters(1)
    parent = BridgeProcess(Settings(home=tmp_path), counters)
    child = multiprocessing.get_context("spawn").Process(target=_time.sleep, args=(60,))
    child.start()
    parent.process = child
    try:
        parent._kill_if_stalled()  # a fresh beat: left alone
        assert child.is_alive()
        counters.beat(_time.time() - 121)
        parent._kill_if_stalled()
        assert not child.is_alive(), "a bridge that finished no step for 121 s was left running"
    finally:
        if child.is_alive():
            child.kill()
