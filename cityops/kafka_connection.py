"""How a cityops client reaches the broker (CONTRACT §8): address, security protocol, SASL
credentials, CA file, turned into client options for kafka-python, aiokafka and Faust alike.

Its own module, free of pydantic, so that the intake bridge's process imports only what it uses
(docs/performance.md M-29); `cityops.settings` builds one from the environment.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any, Literal

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@dataclass(frozen=True)
class KafkaConnection:
    """Where the broker is and how to prove who we are (CONTRACT §8): the one place that turns
    settings into client options, for kafka-python, aiokafka and Faust alike."""

    bootstrap: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uses_tls:
            return None
        # Verifies the broker's certificate and name against the CA file (or the system's CAs).
        return ssl.create_default_context(cafile=self.ca_file)

    def _sasl(self) -> dict[str, Any]:
        if not self.uses_sasl:
            return {}
        return {
            "sasl_mechanism": self.sasl_mechanism or "SCRAM-SHA-512",
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's KafkaProducer / KafkaConsumer / KafkaAdminClient."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap.split(","),
            "security_protocol": self.security_protocol,
            **self._sasl(),
        }
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        return options

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's AIOKafkaProducer / AIOKafkaConsumer."""
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
            "ssl_context": self.ssl_context(),
            **self._sasl(),
        }

    def faust(self) -> dict[str, Any]:
        """`broker` and `broker_credentials` for faust.App."""
        import faust

        urls = ";".join(f"kafka://{host}" for host in self.bootstrap.split(","))
        credentials: faust.SASLCredentials | faust.SSLCredentials | None
        if self.uses_sasl:
            credentials = faust.SASLCredentials(
                username=self.username,
                password=self.password,
                mechanism=self.sasl_mechanism or "SCRAM-SHA-512",
                ssl_context=self.ssl_context(),
            )
        elif self.uses_tls:
            credentials = faust.SSLCredentials(self.ssl_context())
        else:
            credentials = None
        return {"broker": urls, "broker_credentials": credentials}

    def settings_fields(self) -> dict[str, Any]:
        """The Settings fields that give this connection (a child's settings, a benchmark's)."""
        return {
            "kafka_bootstrap": self.bootstrap,
            "kafka_security_protocol": self.security_protocol,
            "kafka_sasl_mechanism": self.sasl_mechanism,
            "kafka_username": self.username,
            "kafka_password": self.password,
            "kafka_ca_file": self.ca_file,
        }

    def as_user(self, username: str, password: str) -> KafkaConnection:
        return KafkaConnection(
            self.bootstrap,
            self.security_protocol,
            self.sasl_mechanism,
            username,
            password,
            self.ca_file,
        )


def kafka_connection(value: KafkaConnection | str) -> KafkaConnection:
    """A bare `host:port` (tests, benchmarks, older callers) means a plaintext connection."""
    return value if isinstance(value, KafkaConnection) else KafkaConnection(value)
