"""The wall names the part of the stack that is down (dashboard/health.py)."""

from __future__ import annotations

import pytest

from cityops.dashboard.health import banner_texts, parts_down

UP = {"broker": "up", "clickhouse": "up", "worker-1": "up", "gateway": "up"}


@pytest.mark.parametrize(
    "broker, clickhouse, services, parts",
    [
        (True, True, UP, []),
        (True, True, {}, []),  # no supervised stack, probes fine
        (False, True, {}, [("broker", "down")]),
        (True, False, {}, [("clickhouse", "down")]),
        (False, False, {}, [("broker", "down"), ("clickhouse", "down")]),
        (False, True, {**UP, "broker": "restarting"}, [("broker", "restarting")]),
        (False, True, UP, [("broker", "down")]),  # the probe beats a stale "up"
        (True, True, {**UP, "worker-1": "restarting"}, [("worker", "restarting")]),
        (
            True, True, {**UP, "worker-1": "restarting", "worker-2": "down"},
            [("worker", "down")],
        ),
        (
            True, True, {**UP, "worker-2": "down", "worker-1": "restarting"},
            [("worker", "down")],
        ),
        (True, True, {**UP, "dashboard": "down"}, []),  # the wall itself: not named
        (True, True, {**UP, "gateway": "down", "simulator": "restarting"},
         [("gateway", "down"), ("simulator", "restarting")]),
        (None, None, {**UP, "clickhouse": "down"}, [("clickhouse", "down")]),
        (False, True, {**UP, "broker-front": "down"}, [("broker", "down")]),
    ],
)  # fmt: skip
def test_parts_down(broker, clickhouse, services, parts):
    assert parts_down(broker, clickhouse, services) == parts


def test_banner_names_each_part_in_both_languages():
    zh, en = banner_texts([("broker", "restarting"), ("clickhouse", "down")])
    assert zh == "服务故障：消息总线正在重启、数据库中断"
    assert en == "parts down: broker restarting, database down"
    assert banner_texts([]) == ("", "")
