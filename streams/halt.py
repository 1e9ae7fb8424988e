"""The worker's way out when the incident engine cannot go on safely."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn

EXIT_ENGINE_FAILED = 70  # the worker's exit status when the engine stopped it


def halt(code: int = EXIT_ENGINE_FAILED) -> NoReturn:
    """Ends the worker process at once with `code`, after flushing its logs.

    The engine's failure leaves bundles applied but not stored; nothing after them may be
    acked. A graceful stop would store and ack what the engine applied since (Faust's shutdown
    settles the agent), and an agent restart skips the failed bundle. Exiting acks nothing: the
    supervisor (deploy/supervisor.py) starts a new worker, which resumes from the committed
    offsets; the bridge child dies with its parent (PR_SET_PDEATHSIG) and resumes from its own.
    """
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
