"""The durable broker's store settings (deploy/durable.py): who may use the store, where it
listens, which ports a restart reuses, and that --durable refuses an external broker."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from cityops.deploy import durable
from cityops.deploy.services import StackError
from cityops.deploy.stack import Stack
from cityops.settings import Settings


def test_only_the_stack_key_may_use_the_store():
    config = json.loads(durable.s3_config({"access_key": "cityops-ab", "secret_key": "s3cr3t"}))
    (identity,) = config["identities"]  # no anonymous identity
    assert identity["credentials"] == [{"accessKey": "cityops-ab", "secretKey": "s3cr3t"}]


def test_the_key_is_made_once_and_private(tmp_path):
    first = durable.s3_key(tmp_path)
    assert durable.s3_key(tmp_path) == first
    assert len(first["secret_key"]) >= 40
    assert (tmp_path / "s3-key.json").stat().st_mode & 0o077 == 0


def test_store_listens_on_loopback_with_every_port_given(tmp_path, monkeypatch):
    monkeypatch.setattr(durable, "weed_binary", lambda: "weed")
    ports = {name: 20000 + n for n, name in enumerate(durable.PORT_NAMES)}
    argv = durable.weed_argv(tmp_path, tmp_path / "s3.json", ports)
    assert "-ip.bind=127.0.0.1" in argv and "-master.peers=none" in argv
    for name, port in ports.items():
        assert f"-{name}={port}" in argv


def taken_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.mark.parametrize(
    "saved, reused",
    [
        ("free", True),  # a restart keeps the master's folder (named after its port)
        ("one taken", False),
        ("missing", False),
        ("not json", False),
        ("a port short", False),
    ],
)
def test_store_ports_reused_only_when_all_are_free(tmp_path, saved, reused):
    held = taken_port()
    try:
        ports = {name: 0 for name in durable.PORT_NAMES}
        ports = durable.store_ports(tmp_path) if saved != "missing" else ports
        path = tmp_path / "ports.json"
        if saved == "one taken":
            ports["s3.port"] = held.getsockname()[1]
        if saved == "a port short":
            ports.pop("s3.port")
        path.write_text("{" if saved == "not json" else json.dumps(ports))
        if saved == "missing":
            path.unlink()
        again = durable.store_ports(tmp_path)
        assert (again == ports) is reused
        assert set(again) == set(durable.PORT_NAMES)
        assert json.loads(path.read_text()) == again
    finally:
        held.close()


def test_durable_with_an_external_broker_is_refused_before_anything_starts(tmp_path):
    settings = Settings(home=tmp_path, kafka_bootstrap="kafka.example:9092")
    stack = Stack(settings)
    with pytest.raises(StackError, match="CITYOPS_KAFKA_BOOTSTRAP"):
        stack.up(simulate=None, dashboard=False, durable=True)
    assert stack.processes == []


def test_the_durable_broker_gets_fewer_larger_batches():
    slow = durable.for_durable_broker(Settings())
    assert slow.tick_seconds == 5.0  # a tick is a record on every partition of two topics
    assert slow.flush_seconds == 1.0 and slow.bridge_linger_seconds == 1.0
    assert slow.fetch_wait_ms == 500  # Tansu bounds a fetch's reads by its max wait


def test_a_cadence_set_by_the_operator_is_kept(monkeypatch):
    monkeypatch.setenv("CITYOPS_TICK_SECONDS", "2")
    monkeypatch.setenv("CITYOPS_BRIDGE_LINGER_SECONDS", "0")
    kept = durable.for_durable_broker(Settings())
    assert kept.tick_seconds == 2.0 and kept.bridge_linger_seconds == 0.0
    assert kept.flush_seconds == 1.0  # not set: raised


def test_a_slower_cadence_is_not_made_faster():
    assert durable.for_durable_broker(Settings(flush_seconds=3.0)).flush_seconds == 3.0


def test_a_worker_process_gets_the_cadence():
    from cityops.deploy.services import worker_env

    env = worker_env(durable.for_durable_broker(Settings()))
    assert env["CITYOPS_TICK_SECONDS"] == "5.0"
    assert env["CITYOPS_FLUSH_SECONDS"] == "1.0"
    assert env["CITYOPS_BRIDGE_LINGER_SECONDS"] == "1.0"
    assert env["CITYOPS_FETCH_WAIT_MS"] == "500"


def test_the_bridge_lingers_as_the_settings_say(tmp_path):
    from cityops.streams.bridge_process import bridge_for

    bridge = bridge_for(durable.for_durable_broker(Settings(home=tmp_path)))
    assert bridge.linger == 1.0 and bridge.tick_seconds == 5.0

    async def wait_ms() -> int:
        return bridge.consumer()._fetch_max_wait_ms

    assert asyncio.run(wait_ms()) == 500
    assert bridge_for(Settings(home=tmp_path)).linger == 0.1
