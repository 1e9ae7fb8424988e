"""Where a ClickHouse server is and how to reach it: the
`clickhouse://user:password@host:port/database` URL parsed into a target (configuration;
`cityops.storage.client` turns a target into a client).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlparse

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class ClickHouseTarget:
    host: str = "127.0.0.1"
    port: int = 9000
    user: str = "default"
    password: str = ""
    database: str = "cityops"
    # TLS on the native protocol (clickhouses://… or ?secure=true), checked against ca_file.
    secure: bool = False
    ca_file: str | None = None
    # Other nodes ("host:port") a client fails over to when this one does not answer: the
    # replicas of a cluster (CONTRACT §9); `?alt_hosts=h:p,h:p` in the URL.
    alt_hosts: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never print the password
        return f"ClickHouseTarget({self.redacted_url()!r})"

    @classmethod
    def from_url(cls, url: str) -> ClickHouseTarget:
        parts = urlparse(url)
        if parts.scheme not in ("clickhouse", "clickhouses", "tcp"):
            raise ValueError(
                "ClickHouse URL must start with clickhouse:// (or clickhouses:// for TLS), got "
                f"{parts.scheme}://…"
            )
        database = (parts.path or "/cityops").lstrip("/") or "cityops"
        check_database_name(database)
        query = parse_qs(parts.query)
        secure = parts.scheme == "clickhouses" or query.get("secure", ["false"])[-1].lower() in (
            "1",
            "true",
            "yes",
        )
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (9440 if secure else 9000),
            user=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            database=database,
            secure=secure,
            ca_file=query["ca_file"][-1] if "ca_file" in query else None,
            alt_hosts=parse_alt_hosts(query.get("alt_hosts", [""])[-1]),
        )

    def replace(self, **changes) -> ClickHouseTarget:
        return dataclasses.replace(self, **changes)

    def with_database(self, database: str) -> ClickHouseTarget:
        check_database_name(database)
        return self.replace(database=database)

    def url(self, *, password: bool = True) -> str:
        auth = quote(self.user, safe="")
        if self.password and password:
            auth += ":" + quote(self.password, safe="")
        scheme = "clickhouses" if self.secure else "clickhouse"
        options = []
        if self.ca_file:
            options.append(f"ca_file={quote(self.ca_file)}")
        if self.alt_hosts:
            options.append(f"alt_hosts={','.join(self.alt_hosts)}")
        query = "?" + "&".join(options) if options else ""
        return f"{scheme}://{auth}@{self.host}:{self.port}/{self.database}{query}"

    def redacted_url(self) -> str:
        return self.url(password=False)


def check_database_name(name: str) -> str:
    # Identifiers cannot be bound parameters, so database names are whitelisted instead.
    if not _DB_NAME.match(name):
        raise ValueError(f"invalid ClickHouse database name {name!r}")
    return name


def parse_alt_hosts(text: str) -> tuple[str, ...]:
    """`h1:p1,h2:p2` → ("h1:p1", "h2:p2"); each must name a host and a port."""
    hosts = tuple(part.strip() for part in text.split(",") if part.strip())
    for host in hosts:
        name, sep, port = host.rpartition(":")
        if not sep or not name or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"alt_hosts: expected host:port, got {host!r}")
    return hosts
