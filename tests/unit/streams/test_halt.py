"""The engine's way out (streams/halt.py): the process really ends, with its status, and the
log line written just before it is not lost."""

import subprocess
import sys

from cityops.streams.halt import EXIT_ENGINE_FAILED

PROGRAM = """
import asyncio, logging, sys
from cityops.streams.halt import halt
logging.basicConfig(stream=sys.stderr, level=logging.INFO)

async def agent():
    try:
        raise RuntimeError("send failed")
    except Exception:
        logging.getLogger("engine").exception("failed on a bundle; stopping the worker")
        halt()

async def main():
    # The exception is caught around the agent, as a Faust supervisor would; halt must not be.
    try:
        await agent()
    except BaseException:
        pass
    print("still running")

asyncio.run(main())
"""


def test_halt_ends_the_process_with_its_status_after_flushing_the_log():
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == EXIT_ENGINE_FAILED != 0
    assert "failed on a bundle; stopping the worker" in done.stderr
    assert "still running" not in done.stdout
