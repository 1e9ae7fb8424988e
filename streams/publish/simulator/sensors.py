"""The city's sensor population for the simulator (early warning, docs/early-warning.md): water
level gauges on low roads, methane detectors, manhole-cover tilt sensors and bridge strain gauges,
each reporting a city.reading.v1 every `period` seconds of city time. Pure: the same seed gives
the same sensors and the same readings. In the `rainstorm` scenario the water-level gauges of
Jianye and Qinhuai rise over the rule's warning line (0.30 m) for about an hour, then recede.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from cityops.schemas.registry import Registry
from cityops.streams.publish.simulator.traffic import Places

# metric: unit, how many, everyday (mean, spread); the warning lines are in deploy/config/rules.toml
KINDS = {
    "water_level": ("m", 160, (0.03, 0.02)),
    "ch4_lel": ("%LEL", 120, (1.0, 0.8)),
    "cover_tilt_deg": ("deg", 140, (1.0, 0.6)),
    "strain_ue": ("ue", 40, (350.0, 60.0)),
}
PREFIX = {"water_level": "WL", "ch4_lel": "GAS", "cover_tilt_deg": "MH", "strain_ue": "BR"}
PERIOD = 60.0  # seconds of city time between two readings of one sensor
RAIN_DISTRICTS = ("320105", "320104")  # Jianye, Qinhuai: the low-lying roads
RAIN_SHARE = 0.35  # of their gauges, how many the storm floods
STORM_RISE, STORM_PEAK, STORM_END = 600.0, 2400.0, 5400.0  # city seconds from the start


@dataclass(frozen=True)
class Sensor:
    sensor_id: str
    metric: str
    unit: str
    location: dict
    mean: float
    spread: float
    phase: float  # its reporting offset within the period
    floods: bool = False  # a rainstorm raises it


class SensorPopulation:
    """`readings(start, t0, t1)`: the data of every reading due in [t0, t1) city seconds
    (Unix), the scenario having started at `start`."""

    def __init__(self, seed: int, scenario: str, registry: Registry, scale: float = 1.0) -> None:
        rng = random.Random(f"cityops-sensors:{seed}")
        places = Places(registry)
        self.scenario = scenario
        self.seed = seed
        self.sensors: list[Sensor] = []
        for metric, (unit, count, (mean, spread)) in KINDS.items():
            for n in range(max(1, round(count * scale))):
                rain = metric == "water_level" and n % 2 == 0
                district = (
                    RAIN_DISTRICTS[n % 4 // 2] if rain else places.city_district(rng)
                )  # half the gauges on the low roads of Jianye and Qinhuai
                location = places.location(rng, district)
                location.pop("address", None)
                self.sensors.append(
                    Sensor(
                        f"{PREFIX[metric]}-{district}-{n:04d}",
                        metric,
                        unit,
                        location,
                        mean,
                        spread,
                        rng.uniform(0, PERIOD),
                        rain and rng.random() < RAIN_SHARE / 0.5,
                    )
                )

    @property
    def per_second(self) -> float:
        """Readings per second of city time."""
        return len(self.sensors) / PERIOD

    def readings(self, start: float, t0: float, t1: float) -> list[tuple[float, dict]]:
        """(city time, reading data) of each reading due in [t0, t1), in time order."""
        due = []
        for sensor in self.sensors:
            k = math.ceil((t0 - start - sensor.phase) / PERIOD)
            at = start + sensor.phase + k * PERIOD
            while at < t1:
                due.append((at, self._data(sensor, start, at)))
                at += PERIOD
        due.sort(key=lambda pair: pair[0])
        return due

    def _data(self, sensor: Sensor, start: float, at: float) -> dict[str, Any]:
        noise = random.Random(f"{self.seed}:{sensor.sensor_id}:{int(at)}").gauss(0, sensor.spread)
        value = max(0.0, sensor.mean + noise)
        if sensor.floods and self.scenario == "rainstorm":
            value += storm_level(at - start)
        return {
            "sensor_id": sensor.sensor_id,
            "metric": sensor.metric,
            "value": round(value, 3),
            "unit": sensor.unit,
            "location": sensor.location,
        }


def storm_level(elapsed: float) -> float:
    """Extra water (m) on a flooded road `elapsed` city seconds into the storm: rising from 10
    minutes, over the 0.30 m line from about 26 minutes to about 63, peaking near 0.55 m at 40,
    back under the 0.20 m clear level by about 72 minutes (plus each gauge's noise)."""
    if elapsed <= STORM_RISE or elapsed >= STORM_END:
        return 0.0
    if elapsed <= STORM_PEAK:
        return 0.55 * (elapsed - STORM_RISE) / (STORM_PEAK - STORM_RISE)
    return 0.55 * (STORM_END - elapsed) / (STORM_END - STORM_PEAK)
