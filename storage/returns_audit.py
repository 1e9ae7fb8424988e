"""The returns audit (退单审核, CONTRACT §11) case by case: every return of a task (`returned`
transition) paired with the dispatch desk's decision (`return_upheld` 维持 or `reassigned` 改派),
who decided and when, and the counts per returning department (and per district or street for
the reports). Read by the dashboard's /returns page and by `cityops report` (HTML/PDF section,
`--part returns` CSV).

Pairing (`pair`, pure): per incident in transition order, a decision answers the oldest return
still waiting (the engine accepts no second return while one waits, so the k-th decision answers
the k-th return, as `loop_queries.returns_audit` counts in SQL). A decision whose return lies
before the window answers nothing in it and is left out. The query keeps a user to their unit
(`scope_term` on the incidents: district, street or community); every value a bound parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from cityops.storage.client import check_database_name
from cityops.storage.latest import scope_term

KINDS = ("returned", "return_upheld", "reassigned")
OUTCOMES = {"return_upheld": "upheld", "reassigned": "reassigned"}
COUNT_NAMES = ("returns", "upheld", "reassigned", "pending")
TRANSITION_KEYS = ("incident_id", "seq", "at", "kind", "department", "actor", "reason")

_TRANSITIONS = """
SELECT DISTINCT incident_id, seq, at, kind, department, actor, reason
FROM {db}.incident_transitions
WHERE at >= toDateTime(%(since)s) AND at < toDateTime(%(until)s)
  AND kind IN ('returned', 'return_upheld', 'reassigned'){scoped}
ORDER BY incident_id, seq
"""
_UNITS = """
SELECT incident_id, any(district), any(street)
FROM {db}.incidents
WHERE incident_id IN %(ids)s
GROUP BY incident_id
"""
FAR_FUTURE = 4102444800  # 2100-01-01: "no upper bound" as a DateTime ClickHouse 18.16 reads


def pair(transitions: Iterable[dict], units: dict[str, tuple[str, str]] | None = None) -> list:
    """Every return in `transitions` (dicts with TRANSITION_KEYS; redelivered duplicates of one
    (incident, seq, kind) count once) as a case: the incident and its district/street (from
    `units`: incident → (district, street)), who returned it, when and why, and the decision
    ("upheld", "reassigned" or "pending") with the deciding desk, its officer and the time.
    Newest return first."""
    units = units or {}
    seen: set[tuple] = set()
    waiting: dict[str, list[dict]] = {}
    cases: list[dict] = []
    for t in sorted(transitions, key=lambda t: (t["incident_id"], t["seq"], t["kind"])):
        key = (t["incident_id"], t["seq"], t["kind"])
        if key in seen or t["kind"] not in KINDS:
            continue
        seen.add(key)
        if t["kind"] == "returned":
            district, street = units.get(t["incident_id"], ("", ""))
            case = {
                "incident_id": t["incident_id"],
                "district": district,
                "street": street,
                "returned_by": t["department"],
                "returned_actor": t["actor"],
                "returned_at": t["at"],
                "reason": t["reason"],
                "outcome": "pending",
                "desk": "",
                "decided_by": "",
                "decided_at": None,
                "note": "",
            }
            cases.append(case)
            waiting.setdefault(t["incident_id"], []).append(case)
            continue
        queue = waiting.get(t["incident_id"])
        if not queue:  # its return lies before the window
            continue
        case = queue.pop(0)
        case.update(
            outcome=OUTCOMES[t["kind"]],
            desk=t["department"],
            decided_by=t["actor"],
            decided_at=t["at"],
            note=t["reason"],
        )
    cases.sort(key=lambda c: (c["returned_at"], c["incident_id"]), reverse=True)
    return cases


def counts(cases: Iterable[dict], key: Callable[[dict], object]) -> dict:
    """key(case) → {returns, upheld, reassigned, pending}."""
    out: dict = {}
    for case in cases:
        row = out.setdefault(key(case), dict.fromkeys(COUNT_NAMES, 0))
        row["returns"] += 1
        row[case["outcome"]] += 1
    return out


def by_department(cases: Iterable[dict]) -> list[dict]:
    """The counts per returning department, ordered by department code."""
    table = counts(cases, lambda c: c["returned_by"])
    return [{"department": d, **table[d]} for d in sorted(table)]


def by_unit(cases: Iterable[dict], level: str) -> list[dict]:
    """The counts per district or street (`level`) and returning department."""
    if level not in ("district", "street"):
        raise ValueError(f"level must be district or street, not {level!r}")
    table = counts(cases, lambda c: (c[level], c["returned_by"]))
    return [{"unit_code": u, "department": d, **table[u, d]} for u, d in sorted(table)]


def read_cases(
    client,
    database: str,
    since: datetime,
    until: datetime | None = None,
    scope: str | None = None,
) -> list[dict]:
    """The returns made in [since, until) by incidents of `scope` (None: the city), paired."""
    db = check_database_name(database)
    params: dict = {
        "since": int(since.timestamp()),
        "until": int(until.timestamp()) if until else FAR_FUTURE,
    }
    scoped = ""
    if scope:
        inside = f"SELECT incident_id FROM {db}.incidents WHERE 1 {scope_term(scope)}"
        scoped, params["scope"] = f"\n  AND incident_id IN ({inside})", scope
    rows = client.execute(_TRANSITIONS.format(db=db, scoped=scoped), params)
    transitions = [dict(zip(TRANSITION_KEYS, row, strict=True)) for row in rows]
    ids = sorted({t["incident_id"] for t in transitions})
    units: dict[str, tuple[str, str]] = {}
    if ids:
        for incident_id, district, street in client.execute(
            _UNITS.format(db=db), {"ids": tuple(ids)}
        ):
            units[incident_id] = (district, street)
    return pair(transitions, units)
