"""`python -m cityops.deploy.logpipe FILE --max-bytes N --backups K`: copies its stdin to FILE
and rotates FILE by size (FILE.1 … FILE.K, oldest dropped), at line boundaries.

The launcher (deploy/services.py `spawn`) points each service's stdout and stderr at one of these:
the one writer of the file is this process, however many processes write into the pipe (gunicorn
workers, the worker's bridge child), and it also catches what bypasses logging (tracebacks at
start, native crashes, a broker's own output). It exits when every writer has closed the pipe,
i.e. after the service and its children are gone, so the last lines are kept.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

LONGEST_LINE = 1 << 20  # a longer line without its end is written as is


class RotatingFile:
    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab")  # noqa: SIM115 - held for the pipe's life
        self.size = self._file.tell()

    def write(self, data: bytes) -> None:
        """Whole lines go into the current file while they fit, the rest into the next one
        (a single line longer than max_bytes fills a file of its own)."""
        while data:
            room = self.max_bytes - self.size
            if len(data) <= room:
                part, data = data, b""
            else:
                cut = data.rfind(b"\n", 0, room) + 1
                if cut == 0 and self.size:
                    self.rotate()
                    continue
                cut = cut or (data.find(b"\n") + 1) or len(data)
                part, data = data[:cut], data[cut:]
            self._file.write(part)
            self.size += len(part)
            if data:
                self.rotate()
        self._file.flush()

    def rotate(self) -> None:
        self._file.close()
        if self.backups > 0:
            for n in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{n}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115
        self.size = 0

    def close(self) -> None:
        self._file.close()


def copy(source, target: RotatingFile) -> None:
    """Whole lines from `source` (a binary stream) into `target` until end of input."""
    rest = b""
    while chunk := source.read1(65536):
        data = rest + chunk
        cut = data.rfind(b"\n") + 1
        whole, rest = data[:cut], data[cut:]
        if len(rest) > LONGEST_LINE:
            whole, rest = data, b""
        if whole:
            target.write(whole)
    if rest:
        target.write(rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cityops.deploy.logpipe")
    parser.add_argument("file", type=Path)
    parser.add_argument("--max-bytes", type=int, default=20 * 2**20)
    parser.add_argument("--backups", type=int, default=3)
    args = parser.parse_args(argv)
    # A stop signal goes to the service; this copies until the service's last line.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    target = RotatingFile(args.file, max(args.max_bytes, 4096), max(args.backups, 0))
    try:
        copy(sys.stdin.buffer, target)
    finally:
        target.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
