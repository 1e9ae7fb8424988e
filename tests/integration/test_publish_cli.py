"""`cityops publish FILE.jsonl` as a department runs it: line numbers, summary, exit status."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import orjson

from cityops.schemas.events import parse_event
from cityops.sdk import complete, report
from tests.integration.test_sdk import read_topic


def cityops(env, *args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "cityops.deploy.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def a_line(event_id: str, **overrides) -> bytes:
    fields = dict(
        category="noise",
        severity=1,
        title="广场舞噪声扰民",
        location={"district": "320104", "street": "320104002"},
        channel="hotline",
        id=event_id,
    )
    fields.update(overrides)
    return orjson.dumps(complete(report(**fields), "hotline12345", now=datetime.now(UTC)))


def test_valid_lines_are_sent_and_invalid_ones_reported_by_line(isolated, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                a_line("cli-1"),
                b"{not json",
                a_line("cli-3", severity=9),
                b"",
                a_line("cli-5"),
                b"[1, 2]",
            ]
        )
        + b"\n"
    )
    result = cityops(isolated.env, "publish", str(path))
    assert result.returncode == 1, result.stderr
    assert result.stdout.strip() == "sent: 2, rejected: 3"
    reasons = result.stderr.strip().splitlines()
    assert reasons[0].startswith("line 2: $: not valid JSON")
    assert reasons[1] == "line 3: data.severity: must be between 1 and 4"
    assert reasons[2] == "line 6: $: expected a JSON object"
    records = read_topic(
        isolated.settings.bootstrap, isolated.topics.events, until=lambda r: len(r) >= 2
    )
    now = datetime.now(UTC)
    assert sorted(parse_event(r.value, now=now).id for r in records) == ["cli-1", "cli-5"]


def test_an_all_valid_file_exits_0_and_binary_mode_sends_headers(isolated, tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_bytes(b"\n".join(a_line(f"bin-{n}") for n in range(50)))
    result = cityops(isolated.env, "publish", str(path), "--binary")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sent: 50, rejected: 0"
    records = read_topic(
        isolated.settings.bootstrap, isolated.topics.events, until=lambda r: len(r) >= 50
    )
    assert all(dict(r.headers).get("ce_source") == b"/departments/hotline12345" for r in records)


def test_dry_run_validates_and_sends_nothing(isolated, tmp_path):
    path = tmp_path / "dry.jsonl"
    path.write_bytes(a_line("dry-1") + b"\n" + a_line("dry-2", category="unicorns") + b"\n")
    result = cityops(isolated.env, "publish", str(path), "--dry-run")
    assert result.returncode == 1
    assert result.stdout.startswith("valid: 1, rejected: 1")
    assert 'line 2: data.category: unknown category "unicorns"' in result.stderr
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=isolated.settings.bootstrap)
    parts = [TopicPartition(isolated.topics.events, p) for p in range(4)]
    assert sum(consumer.end_offsets(parts).values()) == 0
    consumer.close()


def test_department_option_checks_every_lines_source(isolated, tmp_path):
    path = tmp_path / "dept.jsonl"
    path.write_bytes(a_line("dept-1") + b"\n")
    result = cityops(isolated.env, "publish", str(path), "--department", "water", "--dry-run")
    assert result.returncode == 1
    assert 'line 1: source: must be "/departments/water"' in result.stderr


def test_unusable_input_is_one_line_and_exit_2(isolated, tmp_path):
    missing = cityops(isolated.env, "publish", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"cityops: error: no such file: {tmp_path / 'nope.jsonl'}"
    folder = cityops(isolated.env, "publish", str(tmp_path))
    assert folder.returncode == 2 and len(folder.stderr.strip().splitlines()) == 1
    path = tmp_path / "x.jsonl"
    path.write_bytes(a_line("x"))
    unknown = cityops(isolated.env, "publish", str(path), "--department", "atlantis")
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
