"""Scenario surges on top of the everyday mix: `normal`, `rainstorm` (waterlogging in Jianye and
Qinhuai), `gas-leak` (one extreme incident and the calls and alarms around it) and `festival`
(crowds around Fuzimiao 夫子庙). Each is a pure function of a random.Random and the report count.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cityops.streams.publish.simulator.traffic import Places, pick, report_data

JIANYE, QINHUAI, GULOU = "320105", "320104", "320106"
FUZIMIAO_STREET = "320104002"  # 夫子庙街道
GAS_LEAK_COMMUNITY = "320106003001"  # a community of Gulou, chosen once for the scenario

Surge = Callable[[random.Random, Places, int], dict[str, Any]]


@dataclass(frozen=True)
class Scenario:
    name: str
    surge_share: float  # share of reports that come from the surge
    surge: Surge | None = None
    description: str = ""


def _rainstorm(rng: random.Random, places: Places, index: int) -> dict[str, Any]:
    district = JIANYE if rng.random() < 0.6 else QINHUAI
    category = pick(
        rng,
        {
            "waterlogging": 55,
            "drainage": 15,
            "tree_fall": 8,
            "traffic_accident": 7,
            "manhole_cover": 7,
            "power_supply": 5,
            "water_pipe_burst": 3,
        },
    )
    if category == "waterlogging":
        channel = pick(rng, {"sensor": 40, "hotline": 35, "video": 15, "app": 10})
        severity = 4 if rng.random() < 0.2 else 3
    elif category in ("drainage",):
        channel = pick(rng, {"sensor": 50, "hotline": 30, "grid_patrol": 20})
        severity = None
    elif category == "traffic_accident":
        channel = pick(rng, {"video": 60, "hotline": 40})
        severity = None
    else:
        channel = pick(rng, {"hotline": 60, "grid_patrol": 25, "app": 15})
        severity = None
    location = places.location(rng, district)
    title = None
    if category == "waterlogging":
        stalled = "，车辆涉水熄火" if severity == 4 else ""
        title = f"暴雨积水：{location['address']}路段积水{stalled}"
    return report_data(rng, channel, category, location, severity=severity, title=title)


def _gas_leak(rng: random.Random, places: Places, index: int) -> dict[str, Any]:
    if index == 0:
        location = places.location(random.Random(GAS_LEAK_COMMUNITY), GAS_LEAK_COMMUNITY)
        return report_data(
            rng,
            "hotline",
            "gas_leak",
            location,
            severity=4,
            title=f"燃气泄漏：{location['address']}居民楼闻到强烈燃气味，现场有人员滞留",
        )
    roll = rng.random()
    if roll < 0.45:  # alarms and calls about the same leak: repeat reports of one incident
        channel = "sensor" if rng.random() < 0.5 else "hotline"
        location = places.location(rng, GAS_LEAK_COMMUNITY)
        return report_data(
            rng,
            channel,
            "gas_leak",
            location,
            severity=4,
            title=f"燃气泄漏：{location['address']}附近燃气味浓",
        )
    category = pick(
        rng, {"public_order": 4, "traffic_accident": 2, "gas_supply": 3, "crowd_safety": 2}
    )
    location = places.location(rng, GAS_LEAK_COMMUNITY[:9])
    return report_data(rng, pick(rng, {"hotline": 60, "video": 40}), category, location)


def _festival(rng: random.Random, places: Places, index: int) -> dict[str, Any]:
    area = FUZIMIAO_STREET if rng.random() < 0.7 else QINHUAI
    category = pick(
        rng,
        {
            "crowd_safety": 25,
            "public_order": 20,
            "street_vendor": 12,
            "parking": 10,
            "noise": 6,
            "traffic_accident": 5,
            "price_fraud": 8,
            "garbage_sorting": 8,
            "rail_transit": 6,
        },
    )
    channel = (
        "video"
        if category in ("crowd_safety", "street_vendor", "parking") and rng.random() < 0.6
        else pick(rng, {"hotline": 55, "app": 25, "grid_patrol": 20})
    )
    location = places.location(rng, area)
    title = None
    if category == "crowd_safety":
        title = f"夫子庙景区人流密集：{location['address']}人员聚集，需疏导"
    return report_data(rng, channel, category, location, title=title)


SCENARIOS = {
    "normal": Scenario("normal", 0.0, None, "the everyday mix"),
    "rainstorm": Scenario(
        "rainstorm",
        0.6,
        _rainstorm,
        "waterlogging surge in Jianye and Qinhuai: water-level gauges over the warning line, "
        "sensor alarms, hotline calls, "
        "joint handling by water, urban management and traffic police",
    ),
    "gas-leak": Scenario(
        "gas-leak",
        0.25,
        _gas_leak,
        "one extreme gas leak in Gulou that escalates to district and city",
    ),
    "festival": Scenario(
        "festival", 0.5, _festival, "crowds and public order around Fuzimiao in Qinhuai"
    ),
}
