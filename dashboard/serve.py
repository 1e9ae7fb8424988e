"""`cityops dashboard`: the dashboard under gunicorn in production (one process, several threads:
the wall's ClickHouse clients and the Kafka producer live in that process), or Dash's development
server with `--dev`. Binds to `bind_host` (loopback by default); put a reverse proxy in front for
other machines.
"""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from cityops.logjson import json_gunicorn_logger


class _Gunicorn(BaseApplication):
    def __init__(self, wsgi, options: dict) -> None:
        self._wsgi, self._options = wsgi, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        return self._wsgi


def gunicorn_options(settings) -> dict:
    return {
        "bind": f"{settings.bind_host}:{settings.dashboard_port}",
        # One worker keeps per-process state (producer, registry, clients) single; threads serve
        # several wall screens and officers at once. gthread closes idle keep-alive connections.
        "workers": 1,
        "worker_class": "gthread",
        "threads": 8,
        "timeout": 60,
        "graceful_timeout": 5,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": "cityops-dashboard",
        "logger_class": json_gunicorn_logger("dashboard"),
    }


def serve(settings, dev: bool = False) -> int:
    from cityops.dashboard.app import create_app
    from cityops.logjson import configure_logging

    configure_logging("dashboard", settings.log_level)
    app = create_app(settings)
    if dev:
        app.run(
            host=settings.bind_host, port=settings.dashboard_port, debug=True, use_reloader=False
        )
        return 0
    _Gunicorn(app.server, gunicorn_options(settings)).run()
    return 0
