"""One typed settings object for every cityops process, read once at the edge.

Values come from `CITYOPS_*` environment variables (and `$CITYOPS_HOME/cityops.env` when present);
nothing deeper in the code reads os.environ.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.client import ClickHouseTarget


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYOPS_", extra="ignore")

    home: Path = Path(".cityops")
    # External services (CONTRACT §1); when unset, `cityops up` starts embedded ones.
    kafka_bootstrap: str | None = None
    clickhouse_url: str | None = None
    # Topic prefix lets tests (and several stacks on one broker) keep their topics apart.
    topic_prefix: str = ""
    partitions: int = Field(8, ge=1, le=256)
    database: str = "cityops"
    # The engine's clock: 1.0 is real time; 600 makes one real second ten simulated minutes.
    clock_speed: float = Field(1.0, gt=0)
    clock_epoch: float | None = None
    tick_seconds: float = Field(1.0, gt=0)
    workers: int = Field(1, ge=1, le=16)
    dashboard_port: int = 8050
    gateway_port: int = 8060
    broker_port: int = 9092
    clickhouse_port: int = 9000
    clickhouse_http_port: int = 8123
    refresh_seconds: float = Field(5.0, gt=0)
    stale_seconds: float = Field(30.0, gt=0)
    secret_key: SecretStr | None = None
    kiosk_token: SecretStr | None = None
    # The dashboard's session cookie is sent over HTTPS only (set when a TLS proxy serves it).
    cookie_secure: bool = False
    # Reverse proxies in front of the dashboard whose X-Forwarded-For/-Proto are believed (0: none;
    # the login throttle then counts per proxy address).
    trusted_proxies: int = Field(0, ge=0, le=4)
    policy_file: Path | None = None
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
    gateway_rate: float = Field(1000.0, gt=0)
    gateway_burst: int = Field(5000, ge=1)
    gateway_public_rate: float = Field(2.0, gt=0)
    gateway_public_burst: int = Field(20, ge=1)
    # HMAC key of Open311's reporter_hash; unset: made once in $CITYOPS_HOME/secrets.json.
    reporter_secret: SecretStr | None = None
    gateway_ack_timeout: float = Field(8.0, gt=0)
    gateway_workers: int = Field(1, ge=1, le=16)
    gateway_threads: int = Field(16, ge=1, le=256)

    @cached_property
    def clickhouse(self) -> ClickHouseTarget:
        if self.clickhouse_url:
            return ClickHouseTarget.from_url(self.clickhouse_url)
        return ClickHouseTarget(port=self.clickhouse_port, database=self.database)

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.broker_port}"


def load_settings(**overrides) -> Settings:
    return Settings(**overrides)
