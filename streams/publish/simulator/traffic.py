"""The everyday report mix: which channel reports what, when in the day, where in the city.

Shares are a plausible model of a Chinese city-operations centre (12345 hotline calls dominate,
grid inspectors patrol in working hours, sensors and video run around the clock); they are not
measured data. Pure functions of a random.Random, so a seed fixes the whole stream.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cityops.schemas.registry import Registry
from cityops.schemas.taxonomy import CATEGORIES

CHANNEL_SHARE = {
    "hotline": 0.42,
    "grid_patrol": 0.24,
    "sensor": 0.12,
    "video": 0.10,
    "app": 0.09,
    "department": 0.03,
}

# Relative activity by local hour (0-23) per channel; the channel mix follows the clock.
_DAY = [
    1,
    0.6,
    0.4,
    0.3,
    0.3,
    0.5,
    1.2,
    2.5,
    4.5,
    6,
    6,
    5.5,
    4,
    4.5,
    5.5,
    5.5,
    5,
    4.5,
    4,
    4,
    3.5,
    3,
    2.2,
    1.5,
]
_WORK = [0, 0, 0, 0, 0, 0, 0.2, 2, 6, 7, 7, 5, 2, 5, 7, 7, 6, 3, 0.5, 0, 0, 0, 0, 0]
_EVENING = [
    1,
    0.5,
    0.3,
    0.2,
    0.2,
    0.3,
    0.8,
    1.5,
    2.5,
    3,
    3,
    3,
    3.5,
    3,
    3,
    3,
    3,
    3.5,
    4,
    5,
    5.5,
    5,
    3.5,
    2,
]
_FLAT = [1.0] * 24
HOURLY = {
    "hotline": _DAY,
    "grid_patrol": _WORK,
    "sensor": _FLAT,
    "video": _DAY,
    "app": _EVENING,
    "department": _WORK,
}

_CITIZEN: dict[str, float] = {
    "noise": 8,
    "parking": 6,
    "garbage_sorting": 6,
    "property_mgmt": 8,
    "water_supply": 5,
    "power_supply": 4,
    "consultation": 12,
    "old_neighbourhood": 5,
    "street_vendor": 4,
    "price_fraud": 4,
    "neighbour_dispute": 4,
    "road_damage": 3,
    "street_lights": 3,
    "bus_service": 3,
    "elderly_care": 2,
    "food_safety": 2,
    "illegal_construction": 3,
    "construction_dust": 3,
    "telecom": 2,
    "stray_animals": 2,
    "gas_supply": 1,
    "drainage": 2,
    "elevator": 1,
    "tree_fall": 1,
    "greenery": 2,
    "air_pollution": 1,
    "water_pollution": 1,
}
CHANNEL_CATEGORIES: dict[str, dict[str, float]] = {
    "hotline": _CITIZEN,
    "app": {k: v for k, v in _CITIZEN.items() if k != "consultation"} | {"consultation": 4},
    "grid_patrol": {
        "garbage_sorting": 10,
        "street_vendor": 8,
        "parking": 7,
        "illegal_construction": 5,
        "manhole_cover": 3,
        "road_damage": 5,
        "greenery": 4,
        "street_lights": 4,
        "construction_dust": 4,
        "old_neighbourhood": 5,
        "fire_hazard": 2,
        "dangerous_housing": 1,
        "stray_animals": 2,
    },
    "sensor": {
        "waterlogging": 1,
        "air_pollution": 4,
        "noise": 4,
        "water_pipe_burst": 2,
        "drainage": 3,
        "elevator": 3,
        "gas_leak": 0.2,
        "fire_hazard": 1,
        "power_supply": 1,
    },
    "video": {
        "parking": 8,
        "street_vendor": 6,
        "garbage_sorting": 4,
        "traffic_accident": 3,
        "crowd_safety": 1,
        "public_order": 1,
        "fire_hazard": 0.5,
    },
    "department": {
        "power_supply": 3,
        "water_supply": 3,
        "gas_supply": 2,
        "telecom": 2,
        "rail_transit": 1,
        "bus_service": 1,
        "hazardous_chemicals": 0.2,
    },
}
CHANNEL_SOURCE = {
    "hotline": "hotline12345",
    "app": "hotline12345",
    "grid_patrol": "grid_inspect",
    "sensor": "iot",
    "video": "video",
}  # "department": the category's lead

# metric, unit, threshold, (low, high) of an alarming reading
SENSOR_METRICS = {
    "waterlogging": ("water_level", "cm", 15.0, (16.0, 60.0)),
    "air_pollution": ("pm25", "ug/m3", 75.0, (76.0, 300.0)),
    "noise": ("noise", "dB(A)", 70.0, (71.0, 95.0)),
    "water_pipe_burst": ("pipe_pressure", "MPa", 0.14, (0.02, 0.12)),
    "drainage": ("sewer_level", "%", 80.0, (81.0, 100.0)),
    "elevator": ("fault_code", "code", 0.0, (1.0, 9.0)),
    "gas_leak": ("ch4", "%LEL", 20.0, (21.0, 80.0)),
    "fire_hazard": ("smoke", "%/m", 4.0, (5.0, 20.0)),
    "power_supply": ("voltage", "V", 198.0, (0.0, 150.0)),
}
_PHRASES = {
    "hotline": "市民来电反映",
    "app": "市民通过App反映",
    "grid_patrol": "网格员巡查发现",
    "sensor": "感知设备告警",
    "video": "视频智能识别",
    "department": "部门报告",
}


def pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def channel_weights(hour: int) -> dict[str, float]:
    return {c: share * HOURLY[c][hour] for c, share in CHANNEL_SHARE.items()}


@dataclass
class Places:
    """Weighted walks down the registry: district → street → community → grid → micro_grid."""

    registry: Registry

    def __post_init__(self) -> None:
        self._children: dict[str, tuple[list[str], list[int]]] = {}

    def children(self, code: str) -> tuple[list[str], list[int]]:
        found = self._children.get(code)
        if found is None:
            units = self.registry.children(code)
            found = ([u.code for u in units], [max(1, u.households) for u in units])
            self._children[code] = found
        return found

    def below(self, rng: random.Random, code: str) -> str:
        codes, weights = self.children(code)
        return rng.choices(codes, weights=weights)[0]

    def city_district(self, rng: random.Random) -> str:
        return self.below(rng, "320100")

    def location(self, rng: random.Random, code: str, depth: str = "micro_grid") -> dict:
        """A location inside `code` (a district, street or community) down to `depth`."""
        chain = {u.level: u.code for u in self.registry.chain(code)}
        levels = ("street", "community", "grid", "micro_grid")
        current = code
        for level in levels[: levels.index(depth) + 1]:
            if level not in chain:
                current = self.below(rng, current)
                chain[level] = current
        location: dict[str, Any] = {k: chain[k] for k in ("district", *levels) if k in chain}
        lat, lon = self.registry.point(location[depth])
        location["lat"], location["lon"] = lat, lon
        street = self.registry.unit(location["street"])
        community = (
            self.registry.unit(location.get("community", "")) if "community" in location else None
        )
        location["address"] = (street.name_zh if street else "") + (
            community.name_zh if community else ""
        )
        return location


def report_data(
    rng: random.Random,
    channel: str,
    category: str,
    location: dict,
    *,
    severity: int | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    cat = CATEGORIES[category]
    if severity is None:
        severity = cat.default_severity
        roll = rng.random()
        if roll < 0.08 and severity < 4:
            severity += 1
        elif roll > 0.93 and severity > 1:
            severity -= 1
    place = location.get("address") or location["district"]
    data: dict[str, Any] = {
        "channel": channel,
        "category": category,
        "severity": severity,
        "title": title or f"{_PHRASES[channel]}：{place}{cat.name_zh}",
        "location": location,
    }
    if channel in ("hotline", "app"):
        data["reporter_hash"] = f"{rng.getrandbits(64):016x}"
    if channel == "hotline":
        data["external_ref"] = f"12345-{rng.randrange(10**9):09d}"
    if channel == "sensor" and category in SENSOR_METRICS:
        metric, unit, threshold, (low, high) = SENSOR_METRICS[category]
        micro = location.get("micro_grid") or location.get("street") or location["district"]
        data["sensor"] = {
            "sensor_id": f"{metric}-{micro}",
            "metric": metric,
            "value": round(rng.uniform(low, high), 2),
            "unit": unit,
            "threshold": threshold,
        }
    return data


def source_of(channel: str, category: str) -> str:
    return CHANNEL_SOURCE.get(channel) or CATEGORIES[category].lead_department


def everyday_report(rng: random.Random, places: Places, hour: int) -> dict[str, Any]:
    """(channel, data) of one ordinary report at this local hour."""
    channel = pick(rng, channel_weights(hour))
    category = pick(rng, CHANNEL_CATEGORIES[channel])
    district = places.city_district(rng)
    if channel in ("hotline", "app"):
        roll = rng.random()
        # Citizens give an address, not a grid; a few give only the district (dispatch desk).
        depth = "micro_grid" if roll < 0.6 else "community"
        if roll > 0.98:
            data = report_data(rng, channel, category, {"district": district})
            return data
        location = places.location(rng, district, depth)
    else:
        location = places.location(rng, district)
    return report_data(rng, channel, category, location)
