"""One typed settings object for every cityops process, read once at the edge.

Values come from `CITYOPS_*` environment variables (and `$CITYOPS_HOME/cityops.env` when present);
nothing deeper in the code reads os.environ.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from cityops.clickhouse_target import ClickHouseTarget
from cityops.kafka_connection import (  # noqa: F401 - re-exported for callers
    KafkaConnection,
    SaslMechanism,
    SecurityProtocol,
    kafka_connection,
)


def read_secret(path: Path) -> str:
    return path.read_text().strip()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYOPS_", extra="ignore")

    home: Path = Path(".cityops")
    # External services (CONTRACT §1); when unset, `cityops up` starts embedded ones.
    kafka_bootstrap: str | None = None
    clickhouse_url: str | None = None
    # How clients reach the broker (CONTRACT §8). The password may come from a file instead
    # (`cityops up --secure` keeps every secret in a file readable by its owner only).
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_password_file: Path | None = None
    kafka_ca_file: Path | None = None
    # ClickHouse: user and password in CITYOPS_CLICKHOUSE_URL (or the password in a file), TLS
    # with clickhouses:// or ?secure=true, verified against this CA file.
    clickhouse_password_file: Path | None = None
    clickhouse_ca_file: Path | None = None
    # CONTRACT §9: the name of the ClickHouse cluster (its `remote_servers` entry) the migrations
    # create the schema on: replicated local tables, Distributed tables with the contract names.
    # Unset: one server. `cityops up --cluster` sets it for its embedded cluster ("cityops").
    clickhouse_cluster: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    # `cityops up --secure` (CONTRACT §8): the embedded broker and ClickHouse require credentials.
    secure: bool = False
    # Topic prefix lets tests (and several stacks on one broker) keep their topics apart.
    topic_prefix: str = ""
    partitions: int = Field(8, ge=1, le=256)
    database: str = "cityops"
    # The engine's clock: 1.0 is real time; 600 makes one real second ten simulated minutes.
    clock_speed: float = Field(1.0, gt=0)
    clock_epoch: float | None = None
    tick_seconds: float = Field(1.0, gt=0)
    # The intake bridge: how long a fetch with few events waits for more before it sends the
    # bundles (one batch per bundle partition per step; `--durable` raises it, deploy/durable.py).
    bridge_linger_seconds: float = Field(0.1, ge=0, le=10)
    # How long a fetch may wait at the broker (the consumers of the bridge, the engine, claims
    # and notifications). Tansu bounds a fetch's whole work by it: a reader behind on the
    # durable broker got one batch per fetch at 50 ms (docs/operations.md); `--durable` raises it.
    fetch_wait_ms: int = Field(50, ge=10, le=5_000)
    workers: int = Field(1, ge=1, le=16)
    dashboard_port: int = 8050
    gateway_port: int = 8060
    broker_port: int = 9092
    clickhouse_port: int = 9000
    clickhouse_http_port: int = 8123
    # `cityops up --cluster`: node n (from 1) listens on clickhouse_port + n - 1 (native),
    # clickhouse_http_port + n - 1 (HTTP) and clickhouse_http_port + 99 + n (interserver).
    zookeeper_port: int = 2181
    refresh_seconds: float = Field(5.0, gt=0)
    stale_seconds: float = Field(30.0, gt=0)
    # The wall's scenes (city,district,supervision,sensors; empty: all) and each one's dwell.
    wall_scenes: str = ""
    wall_dwell_seconds: float = Field(60.0, ge=5)
    secret_key: SecretStr | None = None
    kiosk_token: SecretStr | None = None
    # The dashboard's session cookie is sent over HTTPS only (set when a TLS proxy serves it).
    cookie_secure: bool = False
    # Reverse proxies in front of the dashboard whose X-Forwarded-For/-Proto are believed (0: none;
    # the login throttle then counts per proxy address).
    trusted_proxies: int = Field(0, ge=0, le=4)
    policy_file: Path | None = None
    # Early warning (CONTRACT §13): sensor rules and feeds; unset: deploy/config/rules.toml.
    rules_file: Path | None = None
    # The incident engine: rows reach ClickHouse at most this long after they were decided.
    flush_seconds: float = Field(0.5, gt=0)
    # The largest Kafka record (key, value, headers) the engine produces: a message or table
    # value over it is logged and not sent. Below Kafka's default broker limit (1 MiB).
    max_message_bytes: int = Field(1_000_000, ge=65_536, le=1_000_000)
    # The intake bridge runs in a child process of the worker (two cores busy); off: a task.
    intake_process: bool = True
    log_level: str = "info"
    # The worker refuses faust-streaming/aiokafka versions its corrections were not verified with
    # (streams/faust_patches.py, docs/faust-corrections.md); true: a warning, to test a new one.
    allow_unverified_faust: bool = False
    # The HTTP gateway (docs/publishing.md): body limit, per-key rate limit (events/s and burst,
    # one token per event), anonymous Open311 reads per client address (requests/s and burst),
    # how long a request waits for the broker's acknowledgement, and gunicorn's sizing.
    gateway_max_body: int = Field(1_048_576, ge=1024)
    # Open311 `media` uploads (cityops/media.py): the largest photo kept; a POST with a photo may
    # be this much larger than gateway_max_body.
    gateway_media_max: int = Field(4_194_304, ge=1024)
    gateway_rate: float = Field(1000.0, gt=0)
    gateway_burst: int = Field(5000, ge=1)
    gateway_public_rate: float = Field(2.0, gt=0)
    gateway_public_burst: int = Field(20, ge=1)
    # HMAC key of Open311's reporter_hash; unset: made once in $CITYOPS_HOME/secrets.json.
    reporter_secret: SecretStr | None = None
    gateway_ack_timeout: float = Field(8.0, gt=0)
    gateway_workers: int = Field(1, ge=1, le=16)
    gateway_threads: int = Field(16, ge=1, le=256)
    # Operations (docs/operations.md): a worker's /healthz, /readyz and /metrics port (0: none;
    # `cityops up` gives worker n the port worker_http_port + n - 1), the consumer lag per
    # partition over which a worker is not ready, and the size rotation of the launcher's logs.
    worker_http_port: int = Field(8070, ge=0, le=65535)
    ready_max_lag: int = Field(10_000, ge=0)
    log_max_bytes: int = Field(20 * 2**20, ge=4096)
    log_backups: int = Field(3, ge=0, le=100)
    # The address the gateway, the dashboard and a worker's endpoints listen on. Loopback unless
    # the network namespace is the boundary (a container: 0.0.0.0, so a proxy, another container
    # or the kubelet's probes can reach it; deploy/compose, deploy/k8s).
    bind_host: str = "127.0.0.1"

    @cached_property
    def clickhouse(self) -> ClickHouseTarget:
        if self.clickhouse_url:
            target = ClickHouseTarget.from_url(self.clickhouse_url)
        else:
            target = ClickHouseTarget(port=self.clickhouse_port, database=self.database)
        if not target.password and self.clickhouse_password_file:
            target = target.replace(password=read_secret(self.clickhouse_password_file))
        if self.clickhouse_ca_file:
            target = target.replace(ca_file=str(self.clickhouse_ca_file))
        return target

    @cached_property
    def kafka(self) -> KafkaConnection:
        """The platform's connection to the broker; every Kafka client is built from it."""
        password = self.kafka_password.get_secret_value() if self.kafka_password else None
        if password is None and self.kafka_password_file:
            password = read_secret(self.kafka_password_file)
        return KafkaConnection(
            bootstrap=self.bootstrap,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_username,
            password=password,
            ca_file=str(self.kafka_ca_file) if self.kafka_ca_file else None,
        )

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.broker_port}"


def load_settings(**overrides) -> Settings:
    return Settings(**overrides)
