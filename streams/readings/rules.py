"""The operators' early-warning configuration (CONTRACT §13): deploy/config/rules.toml, or the file
named by CITYOPS_RULES_FILE, read once at a worker's start. `[[rule]]` turns sensor readings into
incidents, `[[feed]]` names publishers that must not go silent. Every mistake in the file is an
error naming the entry and the key, so a worker never starts on a half-understood file.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cityops.schemas.event_types import MAX_METRIC_CHARS, MAX_SEVERITY, MIN_SEVERITY
from cityops.schemas.taxonomy import CATEGORIES, DEPARTMENTS

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "rules.toml"
DEFAULT_RULE_DEPARTMENTS = ("iot",)
DEFAULT_FEED_DISTRICT = "320102"  # 玄武区: the seat of the city government
MAX_SENSOR_PREFIX_CHARS = 40


class RulesError(ValueError):
    """A rules file the worker cannot run with; str() says where and why."""


@dataclass(frozen=True)
class Rule:
    """A reading's condition held for `for_seconds` (reading time) opens one incident per
    (sensor, rule); it resolves once a reading crosses back past `clear` (hysteresis)."""

    name: str
    metric: str
    direction: str  # "above" | "below"
    threshold: float
    for_seconds: float
    clear: float
    category: str
    severity: int
    # Whose readings the rule reads: a department's readings raise alarms in its own name only.
    departments: tuple[str, ...] = DEFAULT_RULE_DEPARTMENTS
    title: str = ""
    # A peak is told to the incident at most this often (reading time), and only when higher.
    peak_every_seconds: float = 300.0

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.direction == "above" else value < self.threshold

    def cleared(self, value: float) -> bool:
        return value <= self.clear if self.direction == "above" else value >= self.clear

    def worse(self, value: float, than: float) -> bool:
        return value > than if self.direction == "above" else value < than


@dataclass(frozen=True)
class Feed:
    """A publisher that must not go silent: no event from `department` for `silent_after_seconds`
    opens one `feed_silent` incident; its next event resolves it.

    With `metric` and/or `sensor_prefix` the feed is a sensor group instead: only the
    department's readings of that metric, of sensors whose id starts with the prefix, keep it
    alive, and its silence opens an incident of its own, naming the group (`name`)."""

    department: str
    silent_after_seconds: float
    district: str = DEFAULT_FEED_DISTRICT  # where the incident is filed (the dispatch view)
    metric: str = ""
    sensor_prefix: str = ""

    @property
    def group(self) -> bool:
        return bool(self.metric or self.sensor_prefix)

    @property
    def name(self) -> str:
        """The feed's name (its state's key, `feed_states.department`, the incident's sensor
        `feed:<name>`): the department, or "<department>/<metric>[/<prefix>*]" for a group."""
        return feed_name(self.department, self.metric, self.sensor_prefix)

    def covers(self, department: str, metric: str, sensor_id: str) -> bool:
        """Does a reading of `department`'s sensor `sensor_id` keep this sensor group alive?"""
        return (
            self.group
            and department == self.department
            and (not self.metric or metric == self.metric)
            and sensor_id.startswith(self.sensor_prefix)
        )


def feed_name(department: str, metric: str = "", sensor_prefix: str = "") -> str:
    parts = (
        [department]
        + ([metric] if metric else [])
        + ([sensor_prefix + "*"] if sensor_prefix else [])
    )
    return "/".join(parts)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    feeds: tuple[Feed, ...] = ()

    def for_metric(self, metric: str) -> tuple[Rule, ...]:
        return self._by_metric.get(metric, ())

    @property
    def _by_metric(self) -> dict[str, tuple[Rule, ...]]:
        cached = self.__dict__.get("_metric_index")
        if cached is None:
            index: dict[str, list[Rule]] = {}
            for rule in self.rules:
                index.setdefault(rule.metric, []).append(rule)
            cached = {metric: tuple(rules) for metric, rules in index.items()}
            object.__setattr__(self, "_metric_index", cached)
        return cached

    def feed(self, name: str) -> Feed | None:
        """The feed named `name` (a department's own feed is named after it)."""
        for feed in self.feeds:
            if feed.name == name:
                return feed
        return None

    @property
    def groups(self) -> tuple[Feed, ...]:
        """The sensor-group feeds (the intake bridge sends their heartbeats)."""
        return tuple(feed for feed in self.feeds if feed.group)


def load_rules(path: Path | None = None) -> RuleSet:
    """The rule set of `path` (the default file when None); RulesError names what is wrong."""
    path = path or DEFAULT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot read the rules file ({exc.strerror or exc})") from None
    return parse_rules(text, str(path))


def parse_rules(text: str, where: str = "rules.toml") -> RuleSet:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{where}: not valid TOML ({exc})") from None
    rules = tuple(
        _rule(entry, f"{where}: [[rule]] #{n}") for n, entry in _entries(document, "rule", where)
    )
    feeds = tuple(
        _feed(entry, f"{where}: [[feed]] #{n}") for n, entry in _entries(document, "feed", where)
    )
    _unique([r.name for r in rules], f"{where}: [[rule]]", "name")
    _unique([f.name for f in feeds], f"{where}: [[feed]]", "department")
    return RuleSet(rules, feeds)


def _entries(document: dict, kind: str, where: str):
    entries = document.get(kind, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise RulesError(f"{where}: `{kind}` must be an array of tables ([[{kind}]])")
    return enumerate(entries, start=1)


def _rule(entry: dict[str, Any], at: str) -> Rule:
    name = _text(entry, "name", at)
    at = f'{at} "{name}"'
    metric = _text(entry, "metric", at)
    if len(metric) > MAX_METRIC_CHARS:
        raise RulesError(f"{at}: `metric` longer than {MAX_METRIC_CHARS} characters")
    has_above, has_below = "above" in entry, "below" in entry
    if has_above == has_below:
        raise RulesError(f"{at}: give exactly one of `above` or `below`")
    direction = "above" if has_above else "below"
    threshold = _number(entry, direction, at)
    clear = _number(entry, "clear", at) if "clear" in entry else threshold
    if direction == "above" and clear > threshold:
        raise RulesError(f"{at}: `clear` ({clear}) must not be above `above` ({threshold})")
    if direction == "below" and clear < threshold:
        raise RulesError(f"{at}: `clear` ({clear}) must not be below `below` ({threshold})")
    for_seconds = _number(entry, "for_seconds", at) if "for_seconds" in entry else 0.0
    if for_seconds < 0:
        raise RulesError(f"{at}: `for_seconds` must not be negative")
    category = _text(entry, "category", at)
    if category not in CATEGORIES:
        raise RulesError(f'{at}: unknown category "{category}"')
    severity = entry.get("severity", CATEGORIES[category].default_severity)
    if not isinstance(severity, int) or isinstance(severity, bool):
        raise RulesError(f"{at}: `severity` must be an integer")
    if not MIN_SEVERITY <= severity <= MAX_SEVERITY:
        raise RulesError(f"{at}: `severity` must be between {MIN_SEVERITY} and {MAX_SEVERITY}")
    departments = entry.get("departments", list(DEFAULT_RULE_DEPARTMENTS))
    if not isinstance(departments, list) or not departments:
        raise RulesError(f"{at}: `departments` must be a non-empty list of department codes")
    for code in departments:
        if code not in DEPARTMENTS:
            raise RulesError(f'{at}: unknown department "{code}" in `departments`')
    title = entry.get("title", "")
    if not isinstance(title, str):
        raise RulesError(f"{at}: `title` must be text")
    peak_every = (
        _number(entry, "peak_every_seconds", at) if "peak_every_seconds" in entry else 300.0
    )
    return Rule(
        name, metric, direction, threshold, for_seconds, clear, category, severity,
        tuple(departments), title, peak_every,
    )  # fmt: skip


def _feed(entry: dict[str, Any], at: str) -> Feed:
    department = _text(entry, "department", at)
    if department not in DEPARTMENTS:
        raise RulesError(f'{at}: unknown department "{department}"')
    at = f'{at} "{department}"'
    silent = _number(entry, "silent_after_seconds", at)
    if silent <= 0:
        raise RulesError(f"{at}: `silent_after_seconds` must be above 0")
    district = entry.get("district", DEFAULT_FEED_DISTRICT)
    if not (isinstance(district, str) and f"desk_{district}" in DEPARTMENTS):
        raise RulesError(f"{at}: `district` must be a district code of the city")
    metric = _text(entry, "metric", at) if "metric" in entry else ""
    if len(metric) > MAX_METRIC_CHARS or "/" in metric:
        raise RulesError(f"{at}: `metric` must be at most {MAX_METRIC_CHARS} characters, no /")
    prefix = _text(entry, "sensor_prefix", at) if "sensor_prefix" in entry else ""
    if len(prefix) > MAX_SENSOR_PREFIX_CHARS or "/" in prefix:
        raise RulesError(
            f"{at}: `sensor_prefix` must be at most {MAX_SENSOR_PREFIX_CHARS} characters, no /"
        )
    return Feed(department, silent, district, metric, prefix)


def _text(entry: dict[str, Any], key: str, at: str) -> str:
    value = entry.get(key)
    if value is None:
        raise RulesError(f"{at}: `{key}` is required")
    if not isinstance(value, str) or not value.strip():
        raise RulesError(f"{at}: `{key}` must be non-empty text")
    return value


def _number(entry: dict[str, Any], key: str, at: str) -> float:
    value = entry.get(key)
    if value is None:
        raise RulesError(f"{at}: `{key}` is required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RulesError(f"{at}: `{key}` must be a number")
    return float(value)


def _unique(values: list[str], at: str, key: str) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise RulesError(f'{at}: `{key}` "{value}" appears twice')
        seen.add(value)
