"""Departments answering their tasks: accept, progress, resolve after realistic delays (some late,
some never), request joint handling, escalate the gas leak, and the citizen's follow-up with a
share unsatisfied. Pure: `plan(task, now, seed, scenario)` returns the actions with due times;
a per-incident random stream keeps it deterministic whatever order tasks arrive in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cityops.schemas.taxonomy import CATEGORIES
from cityops.sdk import action
from cityops.streams.publish.simulator.scenarios import GAS_LEAK_COMMUNITY
from cityops.streams.publish.tasks import Task

MIN, HOUR, DAY = 60.0, 3600.0, 86400.0
# (accept delay range, resolve delay range) in simulated seconds, by the category's SLA kind.
DELAYS = {
    "emergency_life": ((1 * MIN, 10 * MIN), (20 * MIN, 2 * HOUR)),
    "emergency_utility": ((5 * MIN, 30 * MIN), (2 * HOUR, 12 * HOUR)),
    "complaint": ((30 * MIN, 4 * HOUR), (1 * DAY, 5 * DAY)),
    "consultation": ((10 * MIN, 2 * HOUR), (2 * HOUR, 1 * DAY)),
    "request": ((1 * HOUR, 8 * HOUR), (1 * DAY, 4 * DAY)),
}
NEVER_ACCEPT = 0.05
LATE = 0.10  # accepted or resolved 3-6 times later than usual: SLA breaches
NEVER_RESOLVE = 0.05
UNSATISFIED = 0.15
FEEDBACK_DEPARTMENT = "hotline12345"  # 12345 calls the citizen back (回访)


@dataclass(frozen=True)
class Planned:
    due: datetime
    event: dict[str, Any]


def plan(task: Task, now: datetime, seed: int, scenario: str) -> list[Planned]:
    rng = random.Random(f"{seed}:{task.incident_id}:{task.department}:{task.round}")
    category = CATEGORIES.get(task.category or "")
    kind = category.kind if category else "complaint"
    (accept_lo, accept_hi), (resolve_lo, resolve_hi) = DELAYS[kind]
    extreme = (task.severity or 0) >= 4
    storm = scenario == "rainstorm" and task.category == "waterlogging"
    gas = (
        scenario == "gas-leak"
        and task.category == "gas_leak"
        and (task.community or "").startswith(GAS_LEAK_COMMUNITY[:9])
    )
    out: list[Planned] = []

    def at(seconds: float, kind_: str, **fields: Any) -> None:
        department = fields.pop("department", task.department)
        event = action(
            kind_,
            task.incident_id,
            department=department,
            actor=fields.pop("actor", f"{department}-duty"),
            time=now + timedelta(seconds=seconds),
            **fields,
        )
        event["source"] = f"/departments/{department}"
        out.append(Planned(now + timedelta(seconds=seconds), event))

    if not (storm or gas or extreme) and rng.random() < NEVER_ACCEPT:
        return out  # the task sits there until the SLA timer escalates it
    late = 1.0 if storm or gas else (rng.uniform(3, 6) if rng.random() < LATE else 1.0)
    accept = rng.uniform(accept_lo, accept_hi) * late
    if storm or gas:
        accept = rng.uniform(10, 40)  # emergency rota: a duty officer picks it up at once
    at(accept, "accept", comment="已接单")
    if task.role != "lead":
        # An assisting department finishes its part before the lead closes the matter.
        at(accept + rng.uniform(resolve_lo, resolve_hi) * 0.5, "resolve", comment="协同处置完成")
        return out
    joint = tuple(category.joint_departments) if category else ()
    # Severity >= 3 brings the category's joint departments in at dispatch (the engine's
    # policy); below that a lead asks for them itself now and then.
    if joint and (task.severity or 0) < 3 and rng.random() < 0.3:
        at(
            accept + rng.uniform(5 * MIN, 30 * MIN),
            "assist",
            departments=list(joint),
            comment="请求联合处置",
        )
    if gas:
        at(
            accept + rng.uniform(20, 60),
            "assist",
            departments=["health", "transport"],
            comment="请求医疗救护与交通疏导",
        )
        at(accept + rng.uniform(60, 120), "escalate", comment="泄漏范围扩大，请求区级指挥")
        at(accept + rng.uniform(300, 480), "escalate", comment="需疏散周边居民，请求市级统一指挥")
    if rng.random() < 0.5:
        at(accept + rng.uniform(resolve_lo, resolve_hi) * 0.4, "progress", comment="正在处置")
    if not (storm or gas) and rng.random() < NEVER_RESOLVE:
        return out
    resolve = accept + rng.uniform(resolve_lo, resolve_hi) * late
    at(resolve, "resolve", comment="已处置完毕")
    satisfied = task.round > 0 or rng.random() >= UNSATISFIED
    at(
        resolve + rng.uniform(30 * MIN, 6 * HOUR),
        "feedback",
        department=FEEDBACK_DEPARTMENT,
        actor="12345-callback",
        satisfied=satisfied,
        comment="群众满意" if satisfied else "群众不满意，问题未解决",
    )
    return out
