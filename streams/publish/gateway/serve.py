"""`cityops gateway`: the gateway under gunicorn (threads in one worker by default, so the per-key
rate limit is exact), bound to bind_host (127.0.0.1 by default):gateway_port. The access log
leaves out query strings and headers: Open311 carries api_key in the query or form, so keys never
reach a log line. The path is the client's text, decoded (`%0A` is a newline): CleanLogger escapes
control characters in every access-log field, so one request stays one line."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from cityops.http_probes import mark_dead
from cityops.logjson import json_gunicorn_logger

# Method, path without the query string, status, size, duration: never %(q)s, %(r)s or headers.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


class CleanLogger(json_gunicorn_logger("gateway", Logger)):  # type: ignore[misc]  # built at import
    def atoms(self, resp, req, environ, request_time):
        from cityops.streams.publish.gateway.app import clean

        atoms = super().atoms(resp, req, environ, request_time)
        return {k: clean(v, 500) if isinstance(v, str) else v for k, v in atoms.items()}


class GatewayServer(BaseApplication):
    def __init__(self, settings, options: dict) -> None:
        self.settings_obj = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from cityops.streams.publish.gateway.app import create_app

        return create_app(self.settings_obj)


def options(settings) -> dict:
    return {
        "bind": f"{settings.bind_host}:{settings.gateway_port}",
        "workers": settings.gateway_workers,
        "worker_class": "gthread",
        "threads": settings.gateway_threads,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "logger_class": CleanLogger,
        "errorlog": "-",
        "loglevel": "info",
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "proc_name": "cityops-gateway",
        # Metrics of several worker processes are summed from files (cityops/http_probes.py).
        "child_exit": lambda server, worker: mark_dead(worker.pid),
    }


def serve(settings) -> int:
    from cityops.http_probes import multiprocess_dir
    from cityops.logjson import configure_logging

    configure_logging("gateway", settings.log_level)
    if settings.gateway_workers > 1:  # before gunicorn forks and before any metric is made
        multiprocess_dir(settings.home / "run" / "prometheus-gateway")
    if settings.reporter_secret is None:
        # Read (or made) once here, before gunicorn forks: every worker hashes with the same key.
        from pydantic import SecretStr

        from cityops.private_files import stack_secrets

        secret = SecretStr(stack_secrets(settings.home)["reporter_secret"])
        settings = settings.model_copy(update={"reporter_secret": secret})
    GatewayServer(settings, options(settings)).run()
    return 0
