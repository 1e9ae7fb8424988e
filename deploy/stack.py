"""`cityops up / down / status`: the local stack of broker, ClickHouse, workers, gateway, dashboard.

State (pids, addresses, each service's state and restarts) lives in `$CITYOPS_HOME/stack.json`;
logs in `$CITYOPS_HOME/logs/`. `Stack.watch` supervises the stack (deploy/supervisor.py).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cityops.deploy import services
from cityops.deploy.cluster import (
    Node,
    cluster_mode,
    cluster_status,
    cluster_target,
    start_node,
    start_zookeeper,
)
from cityops.deploy.durable import for_durable_broker, start_durable
from cityops.deploy.secure import (
    CLICKHOUSE_USER,
    MECHANISM,
    PLATFORM_USER,
    clickhouse_password_sha256,
    ensure_secrets,
    secure_files,
)
from cityops.deploy.services import Process, StackError
from cityops.deploy.supervision import UP, RestartPolicy
from cityops.private_files import read_secrets, rotate_kiosk_token, stack_secrets, write_private
from cityops.settings import Settings
from cityops.stack_state import read_state, service_states
from cityops.storage.client import MIGRATE_TIMEOUT, ClickHouseTarget, connect, migrate
from cityops.streams.notify.config import ConfigError, load_targets
from cityops.topics_admin import all_topics, create_topics


@dataclass
class Stack:
    settings: Settings
    processes: list[Process] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    embedded_clickhouse: bool = True
    # How to start each unit again (a unit is one service, or the broker with its TLS front);
    # the unit each process belongs to; per process its state and restart count (CONTRACT §10).
    starters: dict[str, Callable[[], list[Process]]] = field(default_factory=dict)
    unit_of: dict[str, str] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    worker_names: list[str] = field(default_factory=list)
    ready: bool = False

    @property
    def home(self) -> Path:
        return self.settings.home

    @property
    def state_file(self) -> Path:
        return self.home / "stack.json"

    # -- start ------------------------------------------------------------------------------
    def up(
        self,
        *,
        simulate: float | None,
        dashboard: bool,
        workers: int | None = None,
        secure: bool = False,
        durable: bool = False,
        cluster: bool = False,
    ) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        running = read_state(self.home)
        if running and any(services.pid_alive(p["pid"]) for p in running.get("processes", [])):
            raise StackError(
                f"a stack is already running from {self.home.resolve()} "
                "(see `cityops status --json`); stop it with `cityops down` first"
            )
        try:
            # Decided before secure mode fills in the addresses of the services it starts.
            self.embedded_clickhouse = not self.settings.clickhouse_url
            if secure or self.settings.secure:
                self.settings = secure_settings(self.settings)
            self._start(
                simulate=simulate,
                dashboard=dashboard,
                workers=workers,
                durable=durable,
                cluster=cluster,
            )
        except BaseException:
            self.stop_all()
            raise

    def _start(
        self,
        *,
        simulate: float | None,
        dashboard: bool,
        workers: int | None,
        durable: bool = False,
        cluster: bool = False,
    ) -> None:
        s = self.settings
        keys = stack_secrets(self.home)
        if durable and s.kafka_bootstrap:
            raise StackError(
                "--durable keeps the embedded broker's data on disk, but CITYOPS_KAFKA_BOOTSTRAP "
                "points at an external broker; unset one of them"
            )
        if durable and s.secure:
            raise StackError(
                "--durable and --secure together are not supported yet: the secure front is put "
                "before the in-memory broker only (docs/operations.md)"
            )
        if s.kafka_bootstrap:
            bootstrap = s.kafka_bootstrap
        elif durable:  # topics, records and group offsets on disk (deploy/durable.py)
            self.settings = s = for_durable_broker(s)  # fewer, larger batches
            self._unit("broker", lambda: start_durable(self.home, s.broker_port))
            bootstrap = f"127.0.0.1:{s.broker_port}"
        elif s.secure:
            self._unit(
                "broker",
                lambda: services.start_secure_broker(
                    self.home, s.broker_port, secure_files(self.home), s.kafka
                ),
            )
            bootstrap = f"127.0.0.1:{s.broker_port}"
        else:
            self._unit("broker", lambda: [services.start_broker(self.home, s.broker_port)])
            bootstrap = f"127.0.0.1:{s.broker_port}"
        target = s.clickhouse
        cluster_name, nodes = cluster_mode(s, cluster, embedded=self.embedded_clickhouse)
        if nodes and cluster_name:
            target = self._start_cluster(cluster_name, nodes, target)
        elif self.embedded_clickhouse:
            hashed = clickhouse_password_sha256(secure_files(self.home)) if s.secure else None
            self._unit(
                "clickhouse",
                lambda: [
                    services.start_clickhouse(
                        self.home,
                        s.clickhouse_port,
                        s.clickhouse_http_port,
                        user=target.user,
                        password=target.password,
                        password_sha256=hashed,
                    )
                ],
            )
        client = connect(target, database=False, timeout=MIGRATE_TIMEOUT)
        migrate(client, target.database, cluster=cluster_name)
        client.disconnect()
        create_topics(s.kafka, all_topics(s), s.partitions)
        # The dashboard reads the kiosk token from secrets.json on each request (so `cityops kiosk
        # rotate` takes effect at once), not from a variable fixed at its start.
        env = {
            **{k: v for k, v in os.environ.items() if k != "CITYOPS_KIOSK_TOKEN"},
            **services.connection_env(s),
            "CITYOPS_KAFKA_BOOTSTRAP": bootstrap,
            # The password stays in its file when it came from one.
            "CITYOPS_CLICKHOUSE_URL": target.url(password=not s.clickhouse_password_file),
            **({"CITYOPS_CLICKHOUSE_CLUSTER": cluster_name} if cluster_name else {}),
            "CITYOPS_HOME": str(self.home.resolve()),
            **services.cadence_env(s),  # changed for the durable broker (for_durable_broker)
            "CITYOPS_SECRET_KEY": keys["secret_key"],
            "CITYOPS_REPORTER_SECRET": (
                s.reporter_secret.get_secret_value()
                if s.reporter_secret
                else keys["reporter_secret"]
            ),
        }
        if s.clock_epoch is None:
            env["CITYOPS_CLOCK_EPOCH"] = str(time.time())
        exe = [sys.executable, "-m", "cityops.deploy.cli"]
        health = {}
        for n in range(workers or s.workers):
            port = worker_port(s, n)
            if port:
                services.require_free(port, f"HTTP endpoints of worker-{n + 1}")
            worker = {**env, "CITYOPS_WORKER_HTTP_PORT": str(port)}
            self.worker_names.append(f"worker-{n + 1}")
            self._spawn(f"worker-{n + 1}", [*exe, "worker"], worker)
            if port:
                health[f"worker-{n + 1}"] = f"http://127.0.0.1:{port}"
        self._spawn("gateway", [*exe, "gateway"], env, port=s.gateway_port)
        if notify_targets():  # its own consumer group on city.incidents (docs/notifications.md)
            self._spawn("notifier", [*exe, "notify"], env)
        if dashboard:
            self._spawn("dashboard", [*exe, "dashboard"], env, port=s.dashboard_port)
        if simulate:
            self._spawn(
                "simulator", [*exe, "simulate", "--rate", str(simulate), "--duration", "0"], env
            )
        health["gateway"] = f"http://127.0.0.1:{s.gateway_port}"
        if dashboard:
            health["dashboard"] = f"http://127.0.0.1:{s.dashboard_port}"
        self.info = {
            # /healthz, /readyz and /metrics under each address (docs/operations.md)
            "health": health,
            "broker": bootstrap,
            "clickhouse": {
                "host": target.host,
                "port": target.port,
                "database": target.database,
                **clickhouse_status(s, target),
                **cluster_status(cluster_name, target),
            },
            **kafka_status(s),
            "dashboard": f"http://127.0.0.1:{s.dashboard_port}" if dashboard else None,
            "gateway": f"http://127.0.0.1:{s.gateway_port}",
            "wall": (
                f"http://127.0.0.1:{s.dashboard_port}/?kiosk={keys['kiosk_token']}"
                if dashboard
                else None
            ),
        }
        self.ready = True
        self.write_state()

    def _start_cluster(
        self, name: str, nodes: list[Node], target: ClickHouseTarget
    ) -> ClickHouseTarget:
        """ZooKeeper, then every node as a unit of its own (clickhouse-1 …, CONTRACT §9)."""
        s = self.settings
        self._unit("zookeeper", lambda: [start_zookeeper(self.home, s.zookeeper_port)])
        for node in nodes:
            self._unit(node.name, self._node_starter(node, nodes, name))
        return cluster_target(target, nodes)

    def _node_starter(
        self, node: Node, nodes: list[Node], name: str
    ) -> Callable[[], list[Process]]:
        zookeeper_port = self.settings.zookeeper_port
        return lambda: [start_node(self.home, node, nodes, name, zookeeper_port)]

    def _spawn(self, name: str, argv: list[str], env: dict, port: int | None = None) -> None:
        def start() -> list[Process]:
            if port is not None:
                services.require_free(port, name)
            rotate = (self.settings.log_max_bytes, self.settings.log_backups)
            log = self.home / "logs" / f"{name}.log"
            proc = services.spawn(name, argv, log, env=env, rotate=rotate)
            self._track(proc, name)
            if port is not None:
                services.wait_until(lambda: services.tcp_open(port), 60, proc, name)
            return [proc]

        self.starters[name] = start
        start()

    def _unit(self, name: str, start: Callable[[], list[Process]]) -> None:
        """Start a unit and remember how to start it again."""
        self.starters[name] = start
        for proc in start():
            self._track(proc, name)

    def _track(self, proc: Process, unit: str | None = None) -> None:
        """Record a started process (replacing an earlier process of the same name)."""
        for i, old in enumerate(self.processes):
            if old.name == proc.name:
                if old.pid != proc.pid:
                    self.processes[i] = proc
                break
        else:
            self.processes.append(proc)
        self.unit_of.setdefault(proc.name, unit or proc.name)
        self.states.setdefault(proc.name, UP)
        self.write_state()

    def write_state(self) -> None:
        info = dict(self.info)
        if info.get("wall"):  # `cityops kiosk rotate` may have changed the token since the start
            token = read_secrets(self.home).get("kiosk_token")
            if token:
                info["wall"] = info["wall"].split("?", 1)[0] + f"?kiosk={token}"
        state = {
            **info,
            "supervisor": os.getpid(),
            "ready": self.ready,
            "messages": self.messages,
            "processes": [
                {
                    "name": p.name,
                    "pid": p.pid,
                    "log": str(p.log),
                    "state": self.states.get(p.name, UP),
                    "restarts": self.restarts.get(p.name, 0),
                }
                for p in self.processes
            ],
        }
        write_private(self.state_file, json.dumps(state, indent=1))

    # -- stop -------------------------------------------------------------------------------
    def stop_all(self) -> None:
        # Stop in reverse order: producers of work before the services they need.
        for proc in reversed(self.processes):
            services.stop(proc)
        self.processes.clear()
        self.state_file.unlink(missing_ok=True)

    def watch(self, policy: RestartPolicy | None = None) -> int:
        """Foreground (or the detached supervisor): restart what exits (deploy/supervisor.py)
        until Ctrl-C or SIGTERM; then stop everything."""
        from cityops.deploy.supervisor import Supervisor

        stopping = False

        def on_signal(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        Supervisor(self, policy or RestartPolicy()).run(lambda: stopping)
        print("cityops: stopping …", file=sys.stderr)
        self.stop_all()
        return 0


def secure_settings(settings: Settings) -> Settings:
    """Secure mode (CONTRACT §8): the platform's own broker user over SASL_SSL, the local CA, and
    the ClickHouse user with a password; secrets made at first start, read from their files."""
    files = ensure_secrets(settings.home)
    updates: dict = {"secure": True}
    if not settings.kafka_bootstrap:
        updates.update(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism=MECHANISM,
            kafka_username=PLATFORM_USER,
            kafka_password=None,
            kafka_password_file=files.kafka_password_file(PLATFORM_USER),
            kafka_ca_file=files.ca_file,
        )
    if not settings.clickhouse_url:
        updates.update(
            clickhouse_url=ClickHouseTarget(
                port=settings.clickhouse_port, user=CLICKHOUSE_USER, database=settings.database
            ).url(),
            clickhouse_password_file=files.clickhouse_password_file,
        )
    return Settings(**{**dict(settings), **updates})


def kafka_status(settings: Settings) -> dict:
    if settings.kafka_security_protocol == "PLAINTEXT":
        return {}
    return {
        "kafka": {
            "security_protocol": settings.kafka_security_protocol,
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "username": settings.kafka_username,
            "password_file": _path(settings.kafka_password_file),
            "ca_file": _path(settings.kafka_ca_file),
        }
    }


def clickhouse_status(settings: Settings, target: ClickHouseTarget) -> dict:
    if not target.password:
        return {}
    return {"user": target.user, "password_file": _path(settings.clickhouse_password_file)}


def _path(path: Path | None) -> str | None:
    return str(path.resolve()) if path else None


def notify_targets() -> int:
    """How many `[[notify]]` targets the rules file has; a bad entry stops `up` with its reason
    (never with the entry's url or secret)."""
    try:
        return len(load_targets())
    except ConfigError as exc:
        raise StackError(str(exc)) from None


def worker_port(settings: Settings, index: int) -> int:
    """The HTTP port of the launcher's worker number `index` (from 0); 0 when turned off."""
    return settings.worker_http_port + index if settings.worker_http_port else 0


def rotate_kiosk(home: Path) -> str | None:
    """A new kiosk token: wall sessions opened with the old one end at their next request. Returns
    the running stack's new wall address (None when no stack with a dashboard runs here)."""
    token = rotate_kiosk_token(home)
    state = read_state(home)
    if not state or not state.get("wall"):
        return None
    state["wall"] = state["wall"].split("?", 1)[0] + f"?kiosk={token}"
    write_private(home / "stack.json", json.dumps(state, indent=1))
    return state["wall"]


def down(home: Path) -> int:
    state = read_state(home)
    if not state:
        print(f"cityops: no stack is running from {home.resolve()}")
        return 0
    supervisor = state.get("supervisor")
    if supervisor and supervisor != os.getpid() and services.pid_alive(supervisor):
        # The supervisor stops everything itself (and restarts nothing while it does).
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + 90
        while services.pid_alive(supervisor) and time.monotonic() < deadline:
            time.sleep(0.1)
        state = read_state(home) or state
    procs = [Process(p["name"], None, p["pid"], Path(p["log"])) for p in state["processes"]]
    for proc in reversed(procs):
        services.stop(proc)
    (home / "stack.json").unlink(missing_ok=True)
    print(f"cityops: stopped {len(procs)} processes")
    return 0


def status(home: Path) -> dict:
    """From the state file, checked against the real processes (CONTRACT §10)."""
    state = read_state(home) or {}
    out = {key: state.get(key) for key in ("broker", "clickhouse", "dashboard", "gateway", "wall")}
    if "kafka" in state:
        out["kafka"] = state["kafka"]
    out["health"] = state.get("health") or {}
    out["services"], out["restarts"] = service_states(state)
    if state.get("messages"):
        out["messages"] = state["messages"]
    out["home"] = str(home.resolve())
    return out
