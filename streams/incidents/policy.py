"""The policy table of the incident engine: initial level by severity, joint handling, repeat
window, SLA durations per category kind and severity. Read once from TOML at the edge
(deploy/config/policy.toml by default); the decision functions receive it as a plain value.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

from cityops.schemas.event_types import CHANNELS
from cityops.schemas.taxonomy import CATEGORIES, DEPARTMENTS

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "policy.toml"
LEVELS = ("grid", "community", "street", "district")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|h|d|wd)\s*$")


class PolicyError(ValueError):
    """The policy file says something the engine cannot use; the message names the key."""


@dataclass(frozen=True)
class Duration:
    """A deadline offset: `amount` of minutes/hours/days of clock time, or working days."""

    amount: float
    unit: str  # m | h | d | wd

    @classmethod
    def parse(cls, text: str, where: str = "duration") -> Duration:
        match = _DURATION.match(str(text))
        if not match:
            raise PolicyError(f'{where}: expected e.g. "30m", "2h", "3d" or "1wd", got {text!r}')
        return cls(float(match[1]), match[2])

    @property
    def working_days(self) -> bool:
        return self.unit == "wd"

    def seconds(self) -> float:
        return self.amount * {"m": 60, "h": 3600, "d": 86400}[self.unit]


@dataclass(frozen=True)
class Sla:
    accept: Duration
    resolve: Duration
    extreme_accept: Duration | None = None
    extreme_resolve: Duration | None = None

    def for_severity(self, severity: int) -> tuple[Duration, Duration]:
        if severity >= 4:
            return (self.extreme_accept or self.accept, self.extreme_resolve or self.resolve)
        return (self.accept, self.resolve)


@dataclass(frozen=True)
class SupervisionRule:
    """书记督办 (streams/incidents/supervise.py): from how many of each a level supervises (0:
    that measure never raises a matter to the level)."""

    community_rounds: int = 1  # closed but not solved once: the community secretary
    street_rounds: int = 2
    district_rounds: int = 3
    street_unsolved: int = 2  # callbacks answered "not solved"
    district_unsolved: int = 3
    street_repeats: int = 3  # repeat complainants (reports linked to the matter)
    district_repeats: int = 6
    street_severity: int = 3  # a severe matter that came back goes straight to the street
    district_severity: int = 4


REPEAT_SCOPES = ("street", "district")
# Up to this radius a matter is looked for on its own street (the index and the partition follow
# the street); a wider rule must look across the street's borders, in the whole district.
STREET_SCOPE_MAX_RADIUS_M = 100.0
MAX_REPEAT_RADIUS_M = 2_000.0


@dataclass(frozen=True)
class RepeatRule:
    """只投诉一次 for one category (streams/incidents/repeat.py): a report links to an incident of
    its category within `radius_m` while the incident is open and for `after_close` after it
    closed. `scope`: where candidates are looked for, the report's "street" or its whole
    "district" (the repeat index and the bundle partition are then keyed by the district)."""

    radius_m: float = 50.0
    after_close: timedelta = timedelta(days=30)
    scope: str = "street"

    @property
    def days_after_close(self) -> float:
        return self.after_close / timedelta(days=1)


def _d(text: str) -> Duration:
    return Duration.parse(text)


# Matters bigger than a pothole: one gas leak, fire, flooded street or chemical spill is
# reported from many micro-grids and from both sides of a street border.
DEFAULT_REPEAT_CATEGORY = {
    "gas_leak": RepeatRule(500.0, timedelta(hours=6), "district"),
    "fire_hazard": RepeatRule(300.0, timedelta(hours=6), "district"),
    "waterlogging": RepeatRule(300.0, timedelta(hours=12), "district"),
    "hazardous_chemicals": RepeatRule(500.0, timedelta(hours=6), "district"),
}


DEFAULT_SLA = {
    "emergency_life": Sla(_d("30m"), _d("2h"), _d("15m"), _d("1h")),
    "emergency_utility": Sla(_d("2h"), _d("24h"), _d("1h"), _d("12h")),
    "consultation": Sla(_d("1wd"), _d("3wd")),
    "complaint": Sla(_d("1wd"), _d("13wd"), None, _d("5wd")),
    "request": Sla(_d("1wd"), _d("10wd"), None, _d("5wd")),
}


@dataclass(frozen=True)
class Policy:
    levels: dict[int, str] = field(
        default_factory=lambda: {1: "grid", 2: "community", 3: "street", 4: "district"}
    )
    city_informed_from: int = 4
    joint_min_severity: int = 3
    repeat_days_after_close: float = 30.0
    repeat_radius_m: float = 50.0
    close_after_resolved: Duration = field(default_factory=lambda: _d("72h"))
    sla: dict[str, Sla] = field(default_factory=lambda: dict(DEFAULT_SLA))
    category_sla: dict[str, Sla] = field(default_factory=dict)
    # 回访: the departments whose city.incident.feedback.v1 (a citizen's answer) is accepted
    citizen_facing: tuple[str, ...] = ("hotline12345",)
    # 回访 task at resolution: for reports of these channels (to the first citizen-facing
    # department) and for reports a citizen-facing department opened (to that department)
    callback_channels: tuple[str, ...] = ("hotline", "app")
    callback_within: Duration = field(default_factory=lambda: _d("3wd"))
    # 退单: the lead may return its task this long after it was assigned; the SLA clock stops
    # while a return waits for the desk's decision ("paused") or keeps running ("running")
    return_window: Duration = field(default_factory=lambda: _d("2h"))
    sla_clock_while_disputed: str = "paused"
    supervision: SupervisionRule = field(default_factory=SupervisionRule)
    # 只投诉一次 per category ([repeat.category.<code>]); others follow repeat_radius_m and
    # repeat_days_after_close within their street (`repeat_rule`).
    repeat_category: dict[str, RepeatRule] = field(
        default_factory=lambda: dict(DEFAULT_REPEAT_CATEGORY)
    )
    _repeat_default: RepeatRule = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        default = RepeatRule(self.repeat_radius_m, timedelta(days=self.repeat_days_after_close))
        object.__setattr__(self, "_repeat_default", default)

    def repeat_rule(self, category: str) -> RepeatRule:
        return self.repeat_category.get(category) or self._repeat_default

    @property
    def longest_repeat_days(self) -> float:
        """The longest window after close of any category (how far back recovery must read)."""
        rules = (self._repeat_default, *self.repeat_category.values())
        return max(rule.days_after_close for rule in rules)

    def level_for(self, severity: int) -> str:
        return self.levels.get(severity) or self.levels[max(self.levels)]

    def sla_for(self, category: str, kind: str) -> Sla:
        return self.category_sla.get(category) or self.sla.get(kind) or self.sla["request"]


def load_policy(path: Path | None = None) -> Policy:
    """The policy from `path` (default: deploy/config/policy.toml); missing keys keep defaults."""
    path = path or DEFAULT_FILE
    if not path.exists():
        return Policy()
    with open(path, "rb") as fh:
        try:
            doc = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"{path}: {exc}") from None
    return policy_from_dict(doc, str(path))


def policy_from_dict(doc: dict[str, Any], where: str = "policy") -> Policy:
    base = Policy()
    levels_doc = dict(doc.get("levels", {}))
    city_from = int(levels_doc.pop("city_informed_from", base.city_informed_from))
    levels = dict(base.levels)
    for key, level in levels_doc.items():
        if level not in LEVELS:
            raise PolicyError(f"{where}: levels.{key}: unknown level {level!r} (one of {LEVELS})")
        try:
            levels[int(key)] = level
        except ValueError:
            raise PolicyError(f"{where}: levels.{key}: severity must be 1..4") from None
    repeat = dict(doc.get("repeat", {}))
    repeat_category = dict(base.repeat_category)
    repeat_category.update(
        _repeat_categories(repeat.pop("category", {}), f"{where}: repeat.category")
    )
    unknown = sorted(set(repeat) - {"days_after_close", "radius_m"})
    if unknown:
        raise PolicyError(f"{where}: repeat.{unknown[0]}: unknown key")
    days_after_close = _number(
        repeat.get("days_after_close", base.repeat_days_after_close),
        f"{where}: repeat.days_after_close",
        low=0,
    )
    radius_m = _radius(repeat.get("radius_m", base.repeat_radius_m), f"{where}: repeat.radius_m")
    if radius_m > STREET_SCOPE_MAX_RADIUS_M:
        raise PolicyError(
            f"{where}: repeat.radius_m: at most {STREET_SCOPE_MAX_RADIUS_M:g} m for every category"
            " (a wider radius needs a [repeat.category.<code>] rule with its district scope)"
        )
    sla_doc = dict(doc.get("sla", {}))
    categories = sla_doc.pop("category", {})
    sla = dict(base.sla)
    for kind, entry in sla_doc.items():
        sla[kind] = _sla(entry, sla.get(kind), f"{where}: sla.{kind}")
    category_sla = {
        code: _sla(entry, None, f"{where}: sla.category.{code}")
        for code, entry in categories.items()
    }
    close = doc.get("close", {}).get("after_resolved")
    citizen_facing = _departments(
        doc.get("actions", {}).get("citizen_facing", base.citizen_facing),
        f"{where}: actions.citizen_facing",
    )
    callback = doc.get("callback", {})
    returns = doc.get("returns", {})
    clock = returns.get("sla_clock", base.sla_clock_while_disputed)
    if clock not in ("paused", "running"):
        raise PolicyError(f'{where}: returns.sla_clock: "paused" or "running", got {clock!r}')
    channels = callback.get("channels", list(base.callback_channels))
    if not isinstance(channels, list) or not all(c in CHANNELS for c in channels):
        raise PolicyError(f"{where}: callback.channels: a list of {CHANNELS}, got {channels!r}")
    return Policy(
        levels=levels,
        city_informed_from=city_from,
        joint_min_severity=int(doc.get("joint", {}).get("min_severity", base.joint_min_severity)),
        repeat_days_after_close=days_after_close,
        repeat_radius_m=radius_m,
        repeat_category=repeat_category,
        close_after_resolved=(
            Duration.parse(close, f"{where}: close.after_resolved")
            if close
            else base.close_after_resolved
        ),
        sla=sla,
        category_sla=category_sla,
        citizen_facing=citizen_facing,
        callback_channels=tuple(channels),
        callback_within=_duration(callback, "within", base.callback_within, f"{where}: callback"),
        return_window=_duration(returns, "window", base.return_window, f"{where}: returns"),
        sla_clock_while_disputed=clock,
        supervision=_supervision(doc.get("supervision", {}), f"{where}: supervision"),
    )


def _repeat_categories(doc: object, where: str) -> dict[str, RepeatRule]:
    if not isinstance(doc, dict):
        raise PolicyError(f"{where}: expected tables [repeat.category.<code>]")
    rules = {}
    for code, entry in doc.items():
        at = f"{where}.{code}"
        if code not in CATEGORIES:
            raise PolicyError(f"{at}: unknown category {code!r}")
        if not isinstance(entry, dict):
            raise PolicyError(f"{at}: expected a table with radius_m, after_close and scope")
        unknown = sorted(set(entry) - {"radius_m", "after_close", "scope"})
        if unknown:
            raise PolicyError(f"{at}.{unknown[0]}: unknown key (radius_m, after_close, scope)")
        missing = [key for key in ("radius_m", "after_close") if key not in entry]
        if missing:
            raise PolicyError(f"{at}: needs {missing[0]}")
        radius = _radius(entry["radius_m"], f"{at}.radius_m")
        after = Duration.parse(entry["after_close"], f"{at}.after_close")
        if after.working_days:
            raise PolicyError(f'{at}.after_close: clock time ("6h", "2d"), not working days')
        wide = radius > STREET_SCOPE_MAX_RADIUS_M
        scope = entry.get("scope", "district" if wide else "street")
        if scope not in REPEAT_SCOPES:
            raise PolicyError(f"{at}.scope: one of {REPEAT_SCOPES}, got {scope!r}")
        if wide and scope == "street":
            raise PolicyError(
                f"{at}.scope: a radius over {STREET_SCOPE_MAX_RADIUS_M:g} m crosses street"
                ' borders: scope must be "district"'
            )
        rules[code] = RepeatRule(radius, timedelta(seconds=after.seconds()), scope)
    return rules


def _number(value: object, where: str, low: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
        raise PolicyError(f"{where}: a number >= {low:g}, got {value!r}")
    return float(value)


def _radius(value: object, where: str) -> float:
    radius = _number(value, where, 0)
    if not 0 < radius <= MAX_REPEAT_RADIUS_M:
        raise PolicyError(f"{where}: metres, above 0 and at most {MAX_REPEAT_RADIUS_M:g}")
    return radius


def _supervision(doc: dict[str, Any], where: str) -> SupervisionRule:
    names = {f.name for f in fields(SupervisionRule)}
    unknown = sorted(set(doc) - names)
    if unknown:
        raise PolicyError(f"{where}.{unknown[0]}: unknown key (one of {sorted(names)})")
    values = {}
    for key, value in doc.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PolicyError(f"{where}.{key}: a whole number >= 0, got {value!r}")
        values[key] = value
    rule = SupervisionRule(**values)
    for measure in ("rounds", "unsolved", "repeats", "severity"):
        low, high = getattr(rule, f"street_{measure}"), getattr(rule, f"district_{measure}")
        if low and high and high < low:
            raise PolicyError(f"{where}.district_{measure}: {high} is below street_{measure} {low}")
    return rule


def _duration(doc: dict[str, Any], key: str, default: Duration, where: str) -> Duration:
    value = doc.get(key)
    return Duration.parse(value, f"{where}.{key}") if value is not None else default


def _departments(codes: object, where: str) -> tuple[str, ...]:
    if not isinstance(codes, list | tuple) or not all(isinstance(c, str) for c in codes):
        raise PolicyError(f"{where}: expected a list of department codes")
    unknown = [code for code in codes if code not in DEPARTMENTS]
    if unknown:
        raise PolicyError(f"{where}: unknown department {unknown[0]!r}")
    return tuple(codes)


def _sla(entry: dict[str, Any], fallback: Sla | None, where: str) -> Sla:
    def get(name: str) -> Duration | None:
        value = entry.get(name)
        if value is None:
            return getattr(fallback, name) if fallback else None
        return Duration.parse(value, f"{where}.{name}")

    accept, resolve = get("accept"), get("resolve")
    if accept is None or resolve is None:
        raise PolicyError(f"{where}: needs both accept and resolve")
    return Sla(accept, resolve, get("extreme_accept"), get("extreme_resolve"))
