"""Secure mode (CONTRACT §8) from the attacker's side and the department's: the embedded broker
behind its TLS + SASL front, ClickHouse with a password user only, a real worker, and a
department publishing with its own SCRAM credentials over TLS to rows in ClickHouse."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cityops.deploy import services as svc
from cityops.deploy.secure import (
    CLICKHOUSE_USER,
    PLATFORM_USER,
    clickhouse_password_sha256,
    ensure_secrets,
)
from cityops.deploy.stack import secure_settings
from cityops.sdk import Publisher, report
from cityops.settings import KafkaConnection, Settings
from cityops.storage.client import ClickHouseTarget, connect, migrate
from cityops.topics_admin import all_topics, create_topics
from tests.waiting import wait_until


@dataclass
class SecureStack:
    settings: Settings
    platform: KafkaConnection
    target: ClickHouseTarget
    home: Path

    def department(self, code: str, password: str | None = None) -> KafkaConnection:
        secret = self.home / "secure" / f"kafka-{code}.password"
        return self.platform.as_user(code, password or secret.read_text().strip())


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    """A secure broker (Tansu + front) and a password-only ClickHouse, made like `cityops up
    --secure` makes them."""
    home = tmp_path_factory.mktemp("secure")
    base = Settings(
        home=home,
        broker_port=svc.free_port(),
        clickhouse_port=svc.free_port(),
        clickhouse_http_port=svc.free_port(),
        partitions=2,
        database=f"s_{uuid.uuid4().hex[:8]}",
    )
    settings = secure_settings(base)
    files = ensure_secrets(home)
    started: list[svc.Process] = []
    try:
        started += svc.start_secure_broker(home, settings.broker_port, files, settings.kafka)
        target = settings.clickhouse
        started.append(
            svc.start_clickhouse(
                home,
                settings.clickhouse_port,
                settings.clickhouse_http_port,
                user=target.user,
                password=target.password,
                password_sha256=clickhouse_password_sha256(files),
            )
        )
        settings = settings.model_copy(
            update={
                "kafka_bootstrap": settings.bootstrap,
                "clock_speed": 600.0,
                "clock_epoch": time.time(),
                "tick_seconds": 0.5,
                "flush_seconds": 0.3,
            }
        )
        client = connect(target, database=False)
        migrate(client, target.database)
        client.disconnect()
        create_topics(settings.kafka, all_topics(settings), settings.partitions)
        yield SecureStack(settings, settings.kafka, target, home)
    finally:
        for proc in reversed(started):
            svc.stop(proc)


def refused_by_broker(kafka: KafkaConnection) -> str:
    """The error a kafka-python producer gets writing to city.events, or fails the test."""
    from kafka import KafkaProducer

    try:
        producer = KafkaProducer(
            **kafka.kafka_python(),
            bootstrap_timeout_ms=4000,
            max_block_ms=4000,
            request_timeout_ms=4000,
        )
    except Exception as exc:  # noqa: BLE001 - refused at bootstrap
        return type(exc).__name__
    try:
        producer.send("city.events", b'{"forged": true}').get(timeout=6)
    except Exception as exc:  # noqa: BLE001 - refused when sending
        return type(exc).__name__
    finally:
        producer.close(timeout=2)
    pytest.fail(f"the broker accepted a write from {kafka!r}")


def test_files_holding_secrets_are_readable_by_the_owner_only(secure):
    folder = secure.home / "secure"
    private = [p for p in folder.iterdir() if p.suffix in (".password", ".key", ".json")]
    assert {f"kafka-{PLATFORM_USER}.password", "kafka-water.password", "broker.key"} <= {
        p.name for p in private
    }
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in private} == {
        p.name: "0o600" for p in private
    }


@pytest.mark.parametrize(
    "who",
    ["anonymous plaintext", "TLS without SASL", "wrong password", "PLAIN wrong password"],
)
def test_broker_refuses_a_client_that_cannot_prove_who_it_is(secure, who):
    base = secure.platform
    kafka = {
        "anonymous plaintext": KafkaConnection(base.bootstrap),
        "TLS without SASL": KafkaConnection(base.bootstrap, "SSL", ca_file=base.ca_file),
        "wrong password": base.as_user("water", "guessed-password"),
        "PLAIN wrong password": KafkaConnection(
            base.bootstrap, "SASL_SSL", "PLAIN", "water", "guessed-password", base.ca_file
        ),
    }[who]
    assert refused_by_broker(kafka)


def test_broker_refuses_a_client_that_does_not_trust_an_unknown_certificate(secure):
    # Without the local CA the client must not talk to the broker at all.
    kafka = secure.department("water")
    assert refused_by_broker(dataclasses.replace(kafka, ca_file=None))


def test_clickhouse_refuses_a_client_without_the_password(secure):
    from clickhouse_driver import Client
    from clickhouse_driver.errors import ServerException

    for user, password in (("default", ""), (CLICKHOUSE_USER, ""), (CLICKHOUSE_USER, "guess")):
        client = Client(host="127.0.0.1", port=secure.target.port, user=user, password=password)
        with pytest.raises(ServerException) as refused:
            client.execute("SELECT 1")
        client.disconnect()
        # 192 unknown user, 193 wrong password, 194 password required, 516 authentication failed
        assert refused.value.code in (192, 193, 194, 516), refused.value


def test_department_event_reaches_clickhouse_over_sasl_ssl(secure, tmp_path):
    settings = secure.settings
    log = tmp_path / "worker.log"
    worker = svc.start_worker(settings, log)
    ch = connect(secure.target)
    try:
        event = report(
            category="waterlogging",
            severity=3,
            title="沙洲街道积水",
            location={"district": "320105", "street": "320105002"},
            channel="sensor",
            id=f"secure-{uuid.uuid4().hex[:8]}",
            time=datetime.now(UTC),
        )
        water = secure.department("water")
        with Publisher(water, "water", topic="city.events") as publisher:
            publisher.publish(event, wait=True)

        def stored():
            assert worker.poll() is None, svc.log_tail(log, 30)
            return ch.execute(
                f"SELECT source, incident_id FROM {settings.database}.events WHERE id = %(id)s",
                {"id": event["id"]},
            )

        rows = wait_until(
            stored, 90, "the event stored", interval=0.3, details=lambda: svc.log_tail(log, 30)
        )
        assert rows[0][0].endswith("/water")
        assert rows[0][1]
    finally:
        ch.disconnect()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)
