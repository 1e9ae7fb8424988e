"""The secrets of `cityops up --secure` (CONTRACT §8), made once per `$CITYOPS_HOME` at first start:
a local CA and the broker's certificate (with the `openssl` binary, present on every Debian and
Ubuntu), one broker user per department plus `platform`, and the ClickHouse user's password.

Private keys and passwords are created with mode 0600 (never chmod-ed afterwards) under
`$CITYOPS_HOME/secure/`; the users file keeps salted SCRAM keys only.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cityops.deploy.scram import credentials_for
from cityops.deploy.services import StackError

PLATFORM_USER = "platform"
CLICKHOUSE_USER = "cityops"
MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class SecureFiles:
    folder: Path

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def broker_cert(self) -> Path:
        return self.folder / "broker.pem"

    @property
    def broker_key(self) -> Path:
        return self.folder / "broker.key"

    @property
    def broker_users(self) -> Path:
        return self.folder / "broker-users.json"

    @property
    def clickhouse_password_file(self) -> Path:
        return self.folder / "clickhouse.password"

    def kafka_password_file(self, user: str) -> Path:
        return self.folder / f"kafka-{user}.password"


def secure_files(home: Path) -> SecureFiles:
    return SecureFiles((home / "secure").resolve())


def broker_users() -> list[str]:
    """`platform` and one user per department code of the registry."""
    from cityops.schemas.taxonomy import DEPARTMENTS

    return [PLATFORM_USER, *sorted(DEPARTMENTS)]


def write_private(path: Path, data: bytes) -> None:
    """A new file readable and writable by its owner only, from the first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def ensure_secrets(home: Path) -> SecureFiles:
    """Makes whatever is missing; existing files are kept (restarts reuse the same secrets)."""
    files = secure_files(home)
    files.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _ensure_certificates(files)
    users = json.loads(files.broker_users.read_text()) if files.broker_users.exists() else {}
    changed = False
    for user in broker_users():
        path = files.kafka_password_file(user)
        if not path.exists():
            write_private(path, secrets.token_urlsafe(24).encode())
            users.pop(user, None)
        if user not in users:
            users[user] = credentials_for(path.read_text().strip())
            changed = True
    if changed:
        tmp = files.broker_users.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        write_private(tmp, json.dumps(users).encode())
        tmp.replace(files.broker_users)
    if not files.clickhouse_password_file.exists():
        write_private(files.clickhouse_password_file, secrets.token_urlsafe(24).encode())
    return files


def clickhouse_password_sha256(files: SecureFiles) -> str:
    password = files.clickhouse_password_file.read_text().strip()
    return hashlib.sha256(password.encode()).hexdigest()


def _openssl(*args: str) -> bytes:
    binary = shutil.which("openssl")
    if binary is None:
        raise StackError(
            "secure mode makes its certificates with the openssl binary: "
            "`sudo apt-get install openssl`"
        )
    result = subprocess.run([binary, *args], capture_output=True, check=False)
    if result.returncode != 0:
        raise StackError(f"openssl {args[0]} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout


def _ensure_certificates(files: SecureFiles) -> None:
    if files.broker_cert.exists() and files.broker_key.exists() and files.ca_file.exists():
        return
    for path in (files.ca_key, files.ca_file, files.broker_key, files.broker_cert):
        path.unlink(missing_ok=True)
    curve = ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    write_private(files.ca_key, _openssl("genpkey", *curve))
    files.ca_file.write_bytes(
        _openssl(
            "req", "-x509", "-new", "-key", str(files.ca_key), "-sha256", "-days", "3650",
            "-subj", "/CN=cityops local CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )
    )  # fmt: skip
    write_private(files.broker_key, _openssl("genpkey", *curve))
    files.broker_cert.write_bytes(
        _openssl(
            "req", "-x509", "-new", "-key", str(files.broker_key),
            "-CA", str(files.ca_file), "-CAkey", str(files.ca_key),
            "-sha256", "-days", "825", "-subj", "/CN=cityops broker",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "extendedKeyUsage=serverAuth",
        )
    )  # fmt: skip
