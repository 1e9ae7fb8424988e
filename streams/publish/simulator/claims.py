"""Resident-unit claims for the simulator (docs/claims.md): every round, three communities per
district publish a hard problem each; units of the district claim two of them, report progress,
and finish one, which its community confirms (in some districts only after sending it back once).
Paced on real seconds since the simulator started, slowly (about a hundred events in a ten-minute
round), so the first items are on `/claims` within a minute of `deploy/run.sh up` and the first
confirmed ones within about four. Pure: the same seed gives the same events with the same ids.
"""

from __future__ import annotations

import random
from typing import Any

from cityops.schemas.binding import format_time
from cityops.schemas.claims import CLAIM_CATEGORIES, COMMUNITY_PUBLISHER, resident_units
from cityops.schemas.registry import Registry

ROUND_SECONDS = 600.0  # a new round of items every ten minutes of real time
ITEMS_PER_DISTRICT = 3
FIRST_AT = 5.0  # seconds after the start: the first item
TITLES = {
    "old_estate": ("老旧小区外立面与管网改造", "加装电梯协调"),
    "parking": ("小区停车位不足，夜间占用消防通道", "错时共享停车"),
    "waste_sorting": ("垃圾分类投放点督导人手不足", "厨余垃圾清运不及时"),
    "unsafe_building": ("老旧房屋墙体开裂需鉴定加固", "危旧房屋住户临时安置"),
    "elderly_care": ("独居老人助餐点缺少志愿者", "老年活动室设施陈旧"),
    "greening": ("社区口袋公园缺少养护", "楼间绿地黄土裸露"),
}
COMMENTS = {
    "take": "我单位认领，已指定联系人",
    "progress": "已完成现场踏勘，方案已与社区对接",
    "done": "事项已完成，请社区验收",
    "back": "居民反映尚有遗留问题，请继续完善",
    "confirm": "居民满意，确认办结",
}


class ClaimsPlay:
    """`due(elapsed, stamp)`: the claim events due up to `elapsed` real seconds, each once."""

    def __init__(self, seed: int, registry: Registry) -> None:
        self.seed = seed
        self.registry = registry
        self.plan: list[tuple[float, int, dict[str, Any]]] = []
        self.rounds = 0
        self.sent = 0

    def due(self, elapsed: float, stamp) -> list[dict[str, Any]]:
        while self.rounds * ROUND_SECONDS <= elapsed + 1:
            self.plan.extend(self._round(self.rounds))
            self.rounds += 1
            self.plan.sort(key=lambda entry: (entry[0], entry[1]))
        ready = [event for at, _, event in self.plan if at <= elapsed]
        self.plan = [entry for entry in self.plan if entry[0] > elapsed]
        for event in ready:
            event["time"] = format_time(stamp)
        self.sent += len(ready)
        return ready

    def _round(self, number: int) -> list[tuple[float, int, dict[str, Any]]]:
        rng = random.Random(f"cityops-claims:{self.seed}:{number}")
        units = resident_units()
        start = number * ROUND_SECONDS + FIRST_AT
        plan: list[tuple[float, int, dict[str, Any]]] = []
        order = 0
        for d, district in enumerate(sorted(u.code for u in self.registry.districts())):
            own = sorted(u.unit_id for u in units.values() if u.district == district)
            communities = [
                c.code
                for street in self.registry.children(district)
                for c in self.registry.children(street.code)
            ]
            if not own or not communities:
                continue
            for index, community in enumerate(rng.sample(communities, ITEMS_PER_DISTRICT)):
                item_id = f"{community}-s{self.seed % 100000}r{number}i{index}"
                category = rng.choice(sorted(CLAIM_CATEGORIES))
                at = start + (d * ITEMS_PER_DISTRICT + index) * 2.0
                steps: list[tuple[float, str, dict[str, Any]]] = [
                    (at, "item", {
                        "community": community, "category": category,
                        "title": rng.choice(TITLES[category]),
                        "description": "社区难题清单：欢迎驻地单位认领",
                    }),
                ]  # fmt: skip
                unit = rng.choice(own)
                if index < 2:  # the third item waits for a unit
                    at += rng.uniform(20, 50)
                    steps.append((at, "take", {"unit_id": unit, "comment": COMMENTS["take"]}))
                    at += rng.uniform(30, 60)
                    steps.append((at, "progress", {
                        "unit_id": unit, "percent": rng.choice((30, 50, 60)),
                        "comment": COMMENTS["progress"],
                    }))  # fmt: skip
                if index == 0:  # the first is finished and confirmed
                    at += rng.uniform(40, 80)
                    steps.append((at, "done", {"unit_id": unit, "comment": COMMENTS["done"]}))
                    if d % 3 == 0:  # sent back once, then finished again
                        at += rng.uniform(20, 40)
                        steps.append((at, "confirm", {
                            "community": community, "accepted": False,
                            "comment": COMMENTS["back"],
                        }))  # fmt: skip
                        at += rng.uniform(30, 50)
                        steps.append((at, "done", {"unit_id": unit, "comment": COMMENTS["done"]}))
                    at += rng.uniform(20, 40)
                    steps.append((at, "confirm", {
                        "community": community, "accepted": True, "comment": COMMENTS["confirm"],
                    }))  # fmt: skip
                for n, (when, verb, data) in enumerate(steps):
                    order += 1
                    plan.append((when, order, claim_event(f"{item_id}:{n}", verb, item_id, data)))
        return plan


def claim_event(event_id: str, verb: str, item_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """The city.claim.<verb>.v1 CloudEvent of one step (its `time` is set when it is sent)."""
    if verb in ("item", "confirm"):
        department = COMMUNITY_PUBLISHER
    else:
        department = resident_units()[data["unit_id"]].department
    return {
        "specversion": "1.0",
        "id": f"claim:{event_id}",
        "source": f"/departments/{department}",
        "type": f"city.claim.{verb}.v1",
        "time": "",
        "datacontenttype": "application/json",
        "partitionkey": item_id[:9],
        "data": {"item_id": item_id, **data},
    }
