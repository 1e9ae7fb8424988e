"""The reports an alarm becomes (city.report.v1, CONTRACT §4) published on city.events in the name
of the department whose readings (or silence) raised it, so the incident engine opens, updates
and resolves the incident on its one path (docs/early-warning.md). Ids are deterministic: an
alarm decided again after a crash is the same event, which the engine applies once.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import msgspec

from cityops.schemas.event_types import (
    CONTENT_TYPE,
    MAX_ID_CHARS,
    MAX_TITLE_CHARS,
    PLATFORM_ID_PREFIX,
    REPORT_TYPE,
    SOURCE_PREFIX,
    SPECVERSION,
    Location,
)
from cityops.schemas.taxonomy import CATEGORIES, FEED_SILENT
from cityops.streams.readings.evaluate import Alarm
from cityops.streams.readings.model import ReadingIn
from cityops.streams.readings.rules import Feed, Rule

_json = msgspec.json.Encoder()
FEED_SEVERITY = 2
_STEP_ZH = {"raised": "告警", "peak": "峰值", "cleared": "解除"}


def alarm_id(kind: str, name: str, subject: str, alarm: Alarm) -> str:
    """`cityops:<kind>:<name>:<subject>:<episode ms>:<step>[:<ms>]`, hashed when too long."""
    episode = int(alarm.episode * 1000)
    tail = f"{alarm.step}:{int(alarm.at * 1000)}" if alarm.step == "peak" else alarm.step
    text = f"{PLATFORM_ID_PREFIX}{kind}:{name}:{subject}:{episode}:{tail}"
    if len(text) <= MAX_ID_CHARS:
        return text
    digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    return f"{PLATFORM_ID_PREFIX}{kind}:{digest}:{tail}"[:MAX_ID_CHARS]


def rule_report(rule: Rule, reading: ReadingIn, alarm: Alarm) -> tuple[bytes, bytes]:
    """(Kafka key, CloudEvent) of a rule's alarm on the reading's sensor."""
    location = reading.location
    unit = f" {reading.unit}" if reading.unit else ""
    value = f"{reading.metric} {alarm.value:g}{unit}"
    edge = f"{rule.direction} {rule.threshold:g}{unit} for {rule.for_seconds:g} s"
    title = rule.title or CATEGORIES[rule.category].name_zh
    sensor = {
        "sensor_id": reading.sensor_id,
        "metric": reading.metric,
        "value": alarm.value,
        "threshold": rule.threshold,
        "rule": rule.name,
        "alarm": alarm.step,
    }
    if reading.unit:
        sensor["unit"] = reading.unit
    data = {
        "channel": "sensor",
        "category": rule.category,
        "severity": rule.severity,
        "title": f"{title} · {reading.sensor_id} {_STEP_ZH[alarm.step]}"[:MAX_TITLE_CHARS],
        "description": f"{value} (rule {rule.name}: {edge}); {alarm.step}",
        "location": msgspec.to_builtins(location),
        "sensor": sensor,
    }
    subject = f"{reading.department}/{reading.sensor_id}"
    event_id = alarm_id("rule", rule.name, subject, alarm)
    # The report's time is the reading's own time (as published), so the bridge maps it onto
    # the engine clock exactly as it mapped the reading.
    return _envelope(event_id, reading.department, reading.time, location, data)


def feed_report(feed: Feed, alarm: Alarm, time: float) -> tuple[bytes, bytes]:
    """(Kafka key, CloudEvent) of a silent feed's alarm; `time` is its real Unix time."""
    since = datetime.fromtimestamp(alarm.episode, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    step = "silent" if alarm.step == "raised" else "back"
    data = {
        "channel": "department",
        "category": FEED_SILENT,
        "severity": FEED_SEVERITY,
        "title": f"数据源中断 Feed silent: {feed.name}"[:MAX_TITLE_CHARS],
        "description": (
            f"no {'reading' if feed.group else 'event'} from {feed.name} since {since} "
            f"(expected within {feed.silent_after_seconds:g} s); {step}"
        ),
        "location": {"district": feed.district},
        "sensor": {
            "sensor_id": f"feed:{feed.name}",
            "metric": "silent_seconds",
            "value": round(alarm.value, 3),
            "threshold": feed.silent_after_seconds,
            "rule": "feed",
            "alarm": alarm.step,
        },
    }
    event_id = alarm_id("feed", feed.name, feed.district, alarm)
    return _envelope(event_id, feed.department, time, Location(feed.district), data)


def _envelope(
    event_id: str, department: str, time: float, location: Location, data: dict
) -> tuple[bytes, bytes]:
    key = location.street or location.district
    event = {
        "specversion": SPECVERSION,
        "id": event_id,
        "source": f"{SOURCE_PREFIX}{department}",
        "type": REPORT_TYPE,
        "time": datetime.fromtimestamp(time, UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": CONTENT_TYPE,
        "partitionkey": key,
        "data": data,
    }
    return key.encode(), _json.encode(event)
