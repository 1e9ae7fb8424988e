"""The sensor board scene (pure): which readings are over their rule's threshold, which rules fire,
from the operators' rules file (CONTRACT §13; the workers read the same file)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_RULES = Path(__file__).resolve().parents[1] / "deploy" / "config" / "rules.toml"


@dataclass(frozen=True)
class Threshold:
    rule: str
    metric: str
    above: bool
    limit: float
    title: str
    severity: int
    departments: tuple[str, ...]

    def breached(self, value: float) -> bool:
        return value > self.limit if self.above else value < self.limit


def thresholds(path: Path | None) -> tuple[Threshold, ...]:
    """The rules' thresholds; an unreadable file gives none (the workers report it)."""
    try:
        raw = tomllib.loads(Path(path or DEFAULT_RULES).read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return ()
    out = []
    for rule in raw.get("rule", []):
        above = "above" in rule
        limit = rule.get("above", rule.get("below"))
        if limit is None or "metric" not in rule:
            continue
        out.append(
            Threshold(
                rule=str(rule.get("name", rule["metric"])),
                metric=str(rule["metric"]),
                above=above,
                limit=float(limit),
                title=str(rule.get("title", rule.get("name", ""))),
                severity=int(rule.get("severity", 3)),
                departments=tuple(rule.get("departments", ("iot",))),
            )
        )
    return tuple(out)


def over_threshold(readings: list[dict], rules: tuple[Threshold, ...]) -> list[dict]:
    """Readings over a rule's threshold (a reading of a department the rule does not read is
    not its alarm), each with `rule`, `limit` and `severity`; the most severe first."""
    by_metric: dict[str, list[Threshold]] = {}
    for rule in rules:
        by_metric.setdefault(rule.metric, []).append(rule)
    hits = []
    for reading in readings:
        for rule in by_metric.get(reading["metric"], ()):
            if reading["department"] in rule.departments and rule.breached(reading["value"]):
                hits.append({**reading, "rule": rule.rule, "limit": rule.limit,
                             "severity": rule.severity, "title": rule.title})  # fmt: skip
    hits.sort(key=lambda h: (-h["severity"], -h["time"], h["sensor_id"]))
    return hits


def rules_firing(hits: list[dict], rules: tuple[Threshold, ...]) -> list[tuple[Threshold, int]]:
    """(rule, sensors over its threshold) for every rule, firing ones first."""
    counts: dict[str, set] = {}
    for hit in hits:
        counts.setdefault(hit["rule"], set()).add(hit["sensor_id"])
    rows = [(rule, len(counts.get(rule.rule, ()))) for rule in rules]
    rows.sort(key=lambda r: (-r[1], r[0].rule))
    return rows
