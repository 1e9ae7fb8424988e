"""书记督办 (Party-secretary supervision, CONTRACT §11), pure: a matter closed but not solved — a
callback answered `resolved: false`, a repeat complaint after closure, a reopening — is put under
the supervision of the community, street or district secretary by rule: the number of rounds it
came back (reopenings), of unsolved callback answers, of repeat complainants, and its severity
(thresholds in policy.toml `[supervision]`). The level is never lowered.

The engine asks `supervise` only where a matter came back (a reopening, a repeat report on a
matter that was reopened before): a few integer comparisons, nothing on the common path.
"""

from __future__ import annotations

from datetime import datetime

from cityops.streams.incidents.model import Incident, Transition
from cityops.streams.incidents.moves import move
from cityops.streams.incidents.policy import SupervisionRule

SUPERVISION_LEVELS = ("", "community", "street", "district")  # bottom up; '' = none
_RANK = {level: rank for rank, level in enumerate(SUPERVISION_LEVELS)}
LABELS = {"community": "社区书记督办", "street": "街道书记督办", "district": "区委书记督办"}


def _at_least(value: int, threshold: int) -> bool:
    return threshold > 0 and value >= threshold


def level_for(
    rule: SupervisionRule, *, rounds: int, unsolved: int, repeats: int, severity: int
) -> str:
    """The supervision level the rule gives ('' while the matter never came back)."""
    if rounds <= 0 and unsolved <= 0:
        return ""
    if (
        _at_least(rounds, rule.district_rounds)
        or _at_least(unsolved, rule.district_unsolved)
        or _at_least(repeats, rule.district_repeats)
        or _at_least(severity, rule.district_severity)
    ):
        return "district"
    if (
        _at_least(rounds, rule.street_rounds)
        or _at_least(unsolved, rule.street_unsolved)
        or _at_least(repeats, rule.street_repeats)
        or _at_least(severity, rule.street_severity)
    ):
        return "street"
    return "community" if _at_least(max(rounds, unsolved), rule.community_rounds) else ""


def higher(current: str, wanted: str) -> str:
    """The higher of two levels: supervision is never lowered."""
    return wanted if _RANK.get(wanted, 0) > _RANK.get(current, 0) else current


def supervise(
    inc: Incident, rule: SupervisionRule, now: datetime, event_id: str = ""
) -> Transition | None:
    """Raises `inc.supervision` when the rule says so, with a "supervised" transition (书记督办
    and the level; the reason names why); None when the level stays."""
    wanted = level_for(
        rule,
        rounds=inc.reopened,
        unsolved=inc.unsolved,
        repeats=inc.repeat_count,
        severity=inc.severity,
    )
    level = higher(inc.supervision, wanted)
    if level == inc.supervision:
        return None
    inc.supervision = level
    why = (
        f"书记督办 {level} ({LABELS[level]}): {inc.reopened} reopened, "
        f"{inc.unsolved} unsolved callbacks, {inc.repeat_count} repeat reports, "
        f"severity {inc.severity}"
    )
    return move(inc, "supervised", inc.status, now, event_id, reason=why)
