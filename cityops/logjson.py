"""Structured logs: one JSON object per line (time, level, service, logger, message, pid, and the
fields a caller passes with `extra=`, e.g. event_id or incident_id), for every process the
launcher starts. JSON encoding escapes newlines and other control characters, so a client's text
in a message never splits a record over two lines.

Lines go to stderr; the launcher writes each process's output through a size-rotating log pipe
(deploy/logpipe.py, docs/operations.md says why).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

# Attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# Characters JSON leaves raw (ensure_ascii=False) that str.splitlines() and some log shippers
# still treat as line breaks.
_BREAKS = re.compile("[\x85\u2028\u2029]")


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        text = json.dumps(out, ensure_ascii=False, default=str)
        return _BREAKS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def configure_logging(service: str, level: str = "info", stream=None) -> logging.Handler:
    """The root logger writes JSON lines for `service` to `stream` (stderr) at `level`; earlier
    handlers are replaced. Returns the handler (gunicorn's loggers get its formatter too)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    return handler


def json_gunicorn_logger(service: str, base=None):
    """A gunicorn logger class whose error and access logs are JSON lines of `service`."""
    from gunicorn.glogging import Logger

    class JsonLogger(base or Logger):  # type: ignore[misc]  # the base is chosen at run time
        def setup(self, cfg) -> None:
            super().setup(cfg)
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter(service))

    JsonLogger.__name__ = f"{(base or Logger).__name__}Json"
    return JsonLogger
