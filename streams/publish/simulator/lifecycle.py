"""Departments answering their tasks: accept, progress, resolve after realistic delays (some late,
some never), request joint handling, escalate the gas leak, return a share of tasks that are not
theirs (退单) for the district desk to uphold or reassign (改派), and the citizen's callback
(回访) with a share not solved, a share solved but unsatisfied, and a few never answered.
Pure: `plan(task, now, seed, scenario)` returns the actions with due times; a per-incident
random stream keeps it deterministic whatever order tasks arrive in.
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
UNSOLVED = 0.12  # a callback's first answer: the problem is not solved (reopens it)
UNSATISFIED = 0.08  # solved, but the citizen is not satisfied
NO_ANSWER = 0.03  # the callback is never made: callback_overdue
RETURNED = 0.04  # a lead returns a first assignment within the policy's window (2 h)
UPHELD = 0.6  # the desk keeps the lead
RETURN_REASONS = (
    "位于小区内部，属物业管理范围",
    "事发地不在本部门辖区",
    "诉求内容属于其他部门职责",
    "涉及产权纠纷，应由住建部门处理",
)


@dataclass(frozen=True)
class Planned:
    due: datetime
    event: dict[str, Any]


def plan(task: Task, now: datetime, seed: int, scenario: str) -> list[Planned]:
    if task.kind == "callback":
        return plan_callback(task, now, seed)
    if task.kind == "return_review":
        return plan_review(task, now, seed)
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
    first_assignment = task.kind == "assigned" and task.round == 0 and task.role == "lead"
    upheld = str(task.data.get("reason", "")).startswith("return not upheld")
    if first_assignment and not upheld and not (storm or gas or extreme):
        if rng.random() < RETURNED:
            at(rng.uniform(5 * MIN, 90 * MIN), "return", reason=rng.choice(RETURN_REASONS))
            return out
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
    return out


def plan_callback(task: Task, now: datetime, seed: int) -> list[Planned]:
    """The citizen-facing department calls back (回访): the citizen says whether the problem was
    solved and whether they are satisfied; a share find it unsolved (the incident reopens, and
    is called back again after its next resolution: each round draws anew, keyed by its resolve
    deadline), a few callbacks are never made (the incident goes overdue)."""
    rng = random.Random(f"{seed}:{task.incident_id}:callback:{task.data.get('resolve_due', '')}")
    if rng.random() < NO_ANSWER:
        return []
    solved = rng.random() >= UNSOLVED
    satisfied = solved and rng.random() >= UNSATISFIED
    due = now + timedelta(seconds=rng.uniform(30 * MIN, 6 * HOUR))
    comment = "问题已解决，群众满意" if satisfied else (
        "问题已解决，群众不满意" if solved else "群众反映问题未解决"
    )  # fmt: skip
    event = action(
        "feedback",
        task.incident_id,
        department=task.department,
        actor=f"{task.department}-callback",
        time=due,
        resolved=solved,
        satisfied=satisfied,
        comment=comment,
    )
    event["source"] = f"/departments/{task.department}"
    return [Planned(due, event)]


def plan_review(task: Task, now: datetime, seed: int) -> list[Planned]:
    """The district's dispatch desk decides a return: keeps the category's lead, or gives the
    matter to one of the category's joint departments (改派)."""
    rng = random.Random(f"{seed}:{task.incident_id}:review:{task.data.get('reason', '')}")
    category = CATEGORIES.get(task.category or "")
    lead = category.lead_department if category else "urban_mgmt"
    others = [d for d in (category.joint_departments if category else ()) if d != lead]
    to = lead if not others or rng.random() < UPHELD else rng.choice(others)
    due = now + timedelta(seconds=rng.uniform(10 * MIN, 60 * MIN))
    event = action(
        "reassign",
        task.incident_id,
        department=task.department,
        actor=f"{task.department}-duty",
        time=due,
        to_department=to,
        comment="维持原承办部门" if to == lead else f"改派{to}",
    )
    event["source"] = f"/departments/{task.department}"
    return [Planned(due, event)]
