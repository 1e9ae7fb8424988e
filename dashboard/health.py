"""Which part of the stack is down, for the wall's parts banner (element `stack-parts`).

The dashboard probes the broker (a TCP connect) and ClickHouse (`SELECT 1`, short timeouts) itself
and reads the supervisor's view of the other services from the stack's state file
(`$CITYOPS_HOME/stack.json`, checked against the real pids by `cityops.stack_state`). Probes
are cached for a few seconds, so any number of walls costs one probe per interval. `parts_down` is
the pure decision; the rest only gathers its inputs.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from cityops.settings import Settings
from cityops.stack_state import read_state, service_states

DOWN, RESTARTING = "down", "restarting"
# (key, Chinese, English), in the order the banner names them.
PARTS = (
    ("broker", "消息总线", "broker"),
    ("clickhouse", "数据库", "database"),
    ("worker", "处理服务", "stream worker"),
    ("gateway", "接入网关", "gateway"),
    ("simulator", "模拟器", "simulator"),
)
STATE_LABELS = {DOWN: ("中断", "down"), RESTARTING: ("正在重启", "restarting")}


def _part_of(service: str) -> str | None:
    if service.startswith("worker"):
        return "worker"
    if service in ("broker", "broker-front"):
        return "broker"
    if service in ("clickhouse", "gateway", "simulator"):
        return service
    return None  # the dashboard itself, or a service the wall does not name


def parts_down(
    broker_reachable: bool | None, clickhouse_reachable: bool | None, services: dict[str, str]
) -> list[tuple[str, str]]:
    """[(part, "down" | "restarting")] for every part not up, in PARTS order.

    `services` is `cityops status`' map (empty without a supervised stack); a probe that failed
    makes its part down even when the state file still says up, a restarting service stays
    "restarting" while its probe fails. None means "not probed"."""
    worst: dict[str, str] = {}
    for name, state in services.items():
        part = _part_of(name)
        if part is None or state not in (DOWN, RESTARTING):
            continue
        if worst.get(part) != DOWN:  # one worker down makes "worker" down
            worst[part] = state
    for part, reachable in (("broker", broker_reachable), ("clickhouse", clickhouse_reachable)):
        if reachable is False and part not in worst:
            worst[part] = DOWN
    return [(key, worst[key]) for key, _, _ in PARTS if key in worst]


def banner_texts(parts: list[tuple[str, str]]) -> tuple[str, str]:
    """(Chinese, English) banner text; ("", "") when every part is up."""
    if not parts:
        return "", ""
    names = {key: (zh, en) for key, zh, en in PARTS}
    zh = "、".join(f"{names[p][0]}{STATE_LABELS[s][0]}" for p, s in parts)
    en = ", ".join(f"{names[p][1]} {STATE_LABELS[s][1]}" for p, s in parts)
    return f"服务故障：{zh}", f"parts down: {en}"


@dataclass
class StackHealth:
    """The probes, cached for `ttl` seconds (thread-safe: gunicorn threads share one)."""

    settings: Settings
    ttl: float = 3.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._at = 0.0
        self._value: list[tuple[str, str]] = []

    def parts(self) -> list[tuple[str, str]]:
        with self._lock:
            if time.monotonic() - self._at >= self.ttl:
                self._value = parts_down(self._broker(), self._clickhouse(), self._services())
                self._at = time.monotonic()
            return self._value

    def _broker(self) -> bool:
        first = self.settings.bootstrap.split(",")[0].strip()
        host, _, port = first.rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=0.5):
                return True
        except (OSError, ValueError):
            return False

    def _clickhouse(self) -> bool:
        import logging

        from cityops.storage.client import connect

        logging.getLogger("clickhouse_driver.connection").setLevel(logging.CRITICAL)
        try:
            client = connect(self.settings.clickhouse, database=False)
        except Exception:  # noqa: BLE001 - unreachable, bad credentials: not usable either way
            return False
        try:
            client.connection.connect_timeout = 1
            client.connection.send_receive_timeout = 2
            return client.execute("SELECT 1") == [(1,)]
        except Exception:  # noqa: BLE001
            return False
        finally:
            client.disconnect()

    def _services(self) -> dict[str, str]:
        try:
            state = read_state(self.settings.home)
            return service_states(state)[0] if state else {}
        except Exception:  # noqa: BLE001 - no readable state file: only the probes count
            return {}
