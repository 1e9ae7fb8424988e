"""Where a worker's time goes: py-spy (a dev dependency) samples the engine process while a
benchmark measures, and the samples are summarised by stage (`cityops bench throughput
--profile`). Summaries, not flame graphs: the share of samples in each stage of the engine and the
busiest functions, written with the benchmark's results.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

# (stage, a frame that marks it), first match wins; the rest is Faust, asyncio and the loop.
STAGES = (
    ("applying bundles (decisions, rows, messages)", "Engine.apply"),
    ("ClickHouse inserts", "ClickHouseWriter.flush"),
    ("changelog records", "FaustStore.changelog"),
    ("sending to the broker", "Outbox.send"),
    ("installing table values", "FaustStore.install"),
    ("decoding bundles", "Runtime.on_bundle"),
    ("Faust's consumer thread", "AIOKafkaConsumerThread"),
    ("waiting (event loop select)", "select ("),
)


class Profiler:
    """py-spy on one process for `seconds`; `summary()` after it ended. A missing py-spy or a
    refused attach gives a summary that says so instead of failing the benchmark."""

    def __init__(self, pid: int, seconds: float) -> None:
        self.pid, self.seconds = pid, seconds
        self.dir = Path(tempfile.mkdtemp(prefix="cityops-profile-"))
        self.raw = self.dir / "samples.txt"
        self.proc: subprocess.Popen | None = None
        self.error = ""
        beside = Path(sys.executable).parent / "py-spy"  # the venv's, when not on PATH
        spy = str(beside) if beside.exists() else shutil.which("py-spy")
        if spy is None:
            self.error = "py-spy is not installed (pip install -e '.[dev]')"
            return
        self.proc = subprocess.Popen(
            [spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "100"]
            + ["-f", "raw", "-o", str(self.raw), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )

    def summary(self, top: int = 12) -> dict:
        """Ends sampling now if it is still running (py-spy writes its samples on SIGINT)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
            try:
                _, err = self.proc.communicate(timeout=self.seconds + 60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                _, err = self.proc.communicate()
            if not self.raw.exists():
                self.error = (err or b"").decode(errors="replace").strip()[-300:] or "no samples"
        if self.error:
            return {"error": self.error}
        result = summarise(self.raw.read_text().splitlines(), top)
        shutil.rmtree(self.dir, ignore_errors=True)
        result["seconds"] = self.seconds
        return result


def summarise(lines: list[str], top: int = 12) -> dict:
    """py-spy raw lines ("frame;frame;… count") → shares per stage and the busiest leaves."""
    stages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        stage = next(
            (name for name, mark in STAGES if any(mark in frame for frame in frames)),
            "other (Faust, asyncio, aiokafka)",
        )
        stages[stage] += n
        leaves[frames[-1]] += n
    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "stages_percent": {k: round(v * 100 / total, 1) for k, v in stages.most_common()},
        "top_functions_percent": {k: round(v * 100 / total, 1) for k, v in leaves.most_common(top)},
    }
