"""`cityops publish FILE.jsonl`: one CloudEvent per line, each validated by the SDK; invalid lines
are reported with their line number and reason and are not sent. Exit 0 when every line was sent,
1 when anything was rejected or undelivered, 2 when the file cannot be used at all.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import orjson

from cityops.schemas.events import InvalidEvent
from cityops.sdk import Publisher

MAX_REASONS = 1000  # lines reported one by one; the summary still counts every line


def publish_file(
    settings,
    path: Path,
    *,
    dry_run: bool,
    department: str | None,
    binary: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    path = Path(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        print(f"cityops: error: no such file: {path}", file=err)
        return 2
    except (IsADirectoryError, PermissionError) as exc:
        print(f"cityops: error: cannot read {path}: {exc.strerror}", file=err)
        return 2
    failures: list[tuple[str, BaseException]] = []
    try:
        publisher = _publisher(
            settings,
            department,
            binary,
            dry_run,
            on_error=lambda event_id, exc: failures.append((event_id, exc)),
        )
    except ValueError as exc:  # an unknown --department
        handle.close()
        print(f"cityops: error: {exc}", file=err)
        return 2
    except Exception as exc:  # noqa: BLE001 - the broker cannot be reached
        handle.close()
        print(
            f"cityops: error: cannot connect to the broker at {settings.bootstrap}: {exc}", file=err
        )
        return 2
    valid = rejected = 0
    lines: dict[str, int] = {}  # event id -> line number, to name undelivered lines
    try:
        with handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    document = orjson.loads(line)
                    if not isinstance(document, dict):
                        raise InvalidEvent("$", "expected a JSON object")
                    event = publisher.validate(document)
                except orjson.JSONDecodeError as exc:
                    rejected += 1
                    _report(err, rejected, f"line {number}: $: not valid JSON ({exc.msg})")
                    continue
                except InvalidEvent as exc:
                    rejected += 1
                    _report(err, rejected, f"line {number}: {exc}")
                    continue
                valid += 1
                if not dry_run:
                    lines[event.id] = number
                    publisher.submit(event)
    except KeyboardInterrupt:
        print("cityops: interrupted", file=err)
        return 130
    finally:
        publisher.close()
    for event_id, error in failures:
        print(f"line {lines.get(event_id, '?')}: not delivered (id {event_id}): {error}", file=err)
    if dry_run:
        summary = f"valid: {valid}, rejected: {rejected} (dry run, nothing sent)"
    else:
        summary = f"sent: {valid - len(failures)}, rejected: {rejected}"
        if failures:
            summary += f", not delivered: {len(failures)}"
    print(summary, file=out)
    return 1 if rejected or failures else 0


def _report(err: TextIO, count: int, text: str) -> None:
    if count <= MAX_REASONS:
        print(text, file=err)
    elif count == MAX_REASONS + 1:
        print(f"… further reasons omitted (more than {MAX_REASONS})", file=err)


class _NoProducer:
    """Stands in for the Kafka producer in a dry run: validation needs no broker."""

    config: dict = {}

    def flush(self, timeout=None) -> None:
        pass

    def close(self, timeout=None) -> None:
        pass


def _publisher(settings, department: str | None, binary: bool, dry_run: bool, on_error):
    producer = _NoProducer() if dry_run else None
    return Publisher(settings, department, binary=binary, on_error=on_error, producer=producer)
