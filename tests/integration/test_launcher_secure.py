"""`cityops up --secure` as an operator runs it: status --json names the platform's credentials as
files only its owner can read (CONTRACT §8), they work, an anonymous client is refused, and
`cityops down` leaves nothing running."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime

from cityops.deploy import services as svc
from cityops.settings import KafkaConnection
from tests.integration.test_launcher import cityops, stack_env  # noqa: F401 - the fixture
from tests.waiting import wait_until


def test_secure_stack_reports_its_credentials_and_refuses_strangers(stack_env):  # noqa: F811
    started = cityops(stack_env, "up", "--secure", "--detach", "--no-dashboard")
    assert started.returncode == 0, started.stderr
    status = json.loads(cityops(stack_env, "status", "--json").stdout)
    kafka, clickhouse = status["kafka"], status["clickhouse"]
    assert kafka["security_protocol"] == "SASL_SSL"
    assert kafka["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kafka["username"] == "platform"
    assert clickhouse["user"] == "cityops"
    for path in (kafka["password_file"], clickhouse["password_file"]):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert all(state == "up" for state in status["services"].values()), status
    assert "broker-front" in status["services"]
    # The printed credentials are enough for an outside client; nothing secret in the status.
    assert open(kafka["password_file"]).read().strip() not in json.dumps(status)
    platform = KafkaConnection(
        status["broker"],
        kafka["security_protocol"],
        kafka["sasl_mechanism"],
        kafka["username"],
        open(kafka["password_file"]).read().strip(),
        kafka["ca_file"],
    )
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**platform.kafka_python())
    assert "city.events" in admin.list_topics()
    admin.close()
    try:
        anonymous = KafkaAdminClient(bootstrap_servers=status["broker"], bootstrap_timeout_ms=4000)
    except Exception as exc:  # noqa: BLE001 - the expected refusal
        refused = type(exc).__name__
    else:
        anonymous.close()
        refused = None
    assert refused, "an anonymous client reached the secure broker"

    from clickhouse_driver import Client
    from clickhouse_driver.errors import ServerException

    password = open(clickhouse["password_file"]).read().strip()
    ch = Client(host=clickhouse["host"], port=clickhouse["port"], user="cityops", password=password)
    assert ("events",) in ch.execute("SHOW TABLES FROM cityops")
    ch.disconnect()
    # The whole pipeline: a department's report over SASL_SSL, stored by the stack's worker.
    from cityops.sdk import Publisher, report

    secret = os.path.join(os.path.dirname(kafka["password_file"]), "kafka-water.password")
    water = platform.as_user("water", open(secret).read().strip())
    event = report(
        category="waterlogging",
        severity=3,
        title="沙洲街道积水",
        location={"district": "320105", "street": "320105002"},
        channel="sensor",
        time=datetime.now(UTC),
    )
    with Publisher(water, "water") as publisher:
        event_id = publisher.publish(event, wait=True)
    ch = Client(host=clickhouse["host"], port=clickhouse["port"], user="cityops", password=password)
    try:
        wait_until(
            lambda: ch.execute(
                "SELECT source FROM cityops.events WHERE id = %(id)s", {"id": event_id}
            ),
            90,
            f"the secure stack to store {event_id}",
            interval=0.3,
        )
    finally:
        ch.disconnect()

    stranger = Client(host=clickhouse["host"], port=clickhouse["port"])
    try:
        stranger.execute("SELECT 1")
        raise AssertionError("ClickHouse answered the passwordless default user")
    except ServerException:
        pass
    finally:
        stranger.disconnect()

    pids = [
        p["pid"]
        for p in json.load(open(os.path.join(stack_env["CITYOPS_HOME"], "stack.json")))["processes"]
    ]
    assert cityops(stack_env, "down").returncode == 0
    assert [pid for pid in pids if svc.pid_alive(pid)] == []
    assert svc.port_free(int(stack_env["CITYOPS_BROKER_PORT"]))
