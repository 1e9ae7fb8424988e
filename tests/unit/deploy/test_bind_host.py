"""CITYOPS_BIND_HOST: the gateway, the dashboard and a worker's endpoints listen where the setting
says (loopback by default; 0.0.0.0 in a container, deploy/compose and deploy/k8s)."""

from __future__ import annotations

import pytest

from cityops.dashboard.serve import gunicorn_options
from cityops.settings import Settings
from cityops.streams.probe_server import ProbeServer
from cityops.streams.publish.gateway.serve import options as gateway_options


@pytest.mark.parametrize(
    ("env", "host"), [({}, "127.0.0.1"), ({"CITYOPS_BIND_HOST": "0.0.0.0"}, "0.0.0.0")]
)
def test_gateway_and_dashboard_bind_where_the_setting_says(monkeypatch, env, host):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(gateway_port=8061, dashboard_port=8051)
    assert gateway_options(settings)["bind"] == f"{host}:8061"
    assert gunicorn_options(settings)["bind"] == f"{host}:8051"


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_worker_endpoints_listen_on_the_given_host(host):
    server = ProbeServer(0, registry=None, healthz=dict, readyz=lambda: (200, {}), host=host)
    assert server.start()
    try:
        assert server.server is not None
        assert server.server.server_address[0] == host
    finally:
        server.stop()
