"""The `[[notify]]` part of the operators' rules file (CONTRACT §13): where notifications go.

Pure: `parse_targets(document)` turns the parsed TOML document into Targets and refuses a bad
entry with its index and the reason; `load_targets(path)` reads the file. Only the `notify` array
is read here; `[[rule]]` and `[[feed]]` in the same file belong to the rules engine.

A target's `url` and `secret` are operator configuration: they are never logged, stored or shown
on a screen. What the platform shows and stores is the target's `name` (the `name` key, or
`<kind>-<8 hex of the url's SHA-256>`), which names the target without revealing its address.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "rules.toml"
KINDS = ("webhook", "wecom", "dingtalk")
TRIGGERS = ("extreme", "escalated", "breached", "supervised", "feed_silent", "rule")
_KEYS = {
    "kind", "url", "secret", "on", "districts", "name", "page_base", "max_attempts",
    "backoff_seconds", "max_backoff_seconds", "timeout_seconds",
}  # fmt: skip


class ConfigError(ValueError):
    """A `[[notify]]` entry the notifier refuses, with where and why."""


@dataclass(frozen=True)
class Target:
    kind: str
    url: str = field(repr=False)  # an operator secret (a robot's url holds its key)
    secret: str = field(default="", repr=False)
    on: tuple[str, ...] = TRIGGERS
    districts: tuple[str, ...] = ()  # empty: every district
    name: str = ""
    page_base: str = ""  # the dashboard's address for links ("" : the local dashboard)
    max_attempts: int = 5  # the retry budget: attempts per notification, the first included
    backoff_seconds: float = 1.0  # before the 2nd attempt; doubled each time
    max_backoff_seconds: float = 60.0
    timeout_seconds: float = 5.0  # per attempt (connect + answer)

    def wants(self, trigger: str, district: str) -> bool:
        return trigger in self.on and (not self.districts or district in self.districts)


def rules_path(env: dict[str, str] | None = None) -> Path:
    """CITYOPS_RULES_FILE, or deploy/config/rules.toml."""
    value = (os.environ if env is None else env).get("CITYOPS_RULES_FILE", "")
    return Path(value) if value else DEFAULT_FILE


def load_targets(path: Path | None = None) -> list[Target]:
    """The targets of the rules file (none when the file does not exist)."""
    path = path or rules_path()
    if not path.exists():
        return []
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_targets(document, source=str(path))


def parse_targets(document: dict[str, Any], source: str = "rules file") -> list[Target]:
    entries = document.get("notify", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: `notify` must be an array of tables ([[notify]])")
    targets = [_target(entry, f"{source}: [[notify]] #{i + 1}") for i, entry in enumerate(entries)]
    names = [t.name for t in targets]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{source}: two [[notify]] entries are named {name!r}")
    return targets


def default_name(kind: str, url: str) -> str:
    return f"{kind}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"


def _target(entry: Any, where: str) -> Target:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be a table")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    url = entry.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: url must be an http:// or https:// address")
    secret = entry.get("secret", "")
    if not isinstance(secret, str):
        raise ConfigError(f"{where}: secret must be a string")
    if kind == "webhook" and not secret:
        raise ConfigError(f"{where}: a webhook needs a secret (its receiver checks the signature)")
    on = _strings(entry.get("on", list(TRIGGERS)), where, "on")
    bad = [t for t in on if t not in TRIGGERS]
    if bad:
        raise ConfigError(f"{where}: unknown trigger(s) {', '.join(bad)} in `on`")
    districts = _strings(entry.get("districts", []), where, "districts")
    bad = [d for d in districts if not (len(d) == 6 and d.isdigit())]
    if bad:
        raise ConfigError(f"{where}: districts are 6-digit adcodes, not {', '.join(bad)}")
    name = entry.get("name") or default_name(kind, url)
    if not isinstance(name, str):
        raise ConfigError(f"{where}: name must be a string")
    numbers: dict[str, Any] = {}
    for key, low in (
        ("max_attempts", 1),
        ("backoff_seconds", 0),
        ("max_backoff_seconds", 0),
        ("timeout_seconds", 0.001),
    ):
        if key in entry:
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
                raise ConfigError(f"{where}: {key} must be a number >= {low}")
            numbers[key] = value
    if "max_attempts" in numbers and not isinstance(numbers["max_attempts"], int):
        raise ConfigError(f"{where}: max_attempts must be a whole number")
    page_base = entry.get("page_base", "")
    if not isinstance(page_base, str):
        raise ConfigError(f"{where}: page_base must be a string")
    return Target(
        kind, url, secret, tuple(on), tuple(districts), name, page_base.rstrip("/"), **numbers
    )


def _strings(value: Any, where: str, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of strings")
    return value
