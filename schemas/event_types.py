"""The typed shape of the CloudEvents the city accepts (CONTRACT §4) and the validation error.

msgspec Structs, so the validator (schemas/events.py) decodes bytes straight into them; the JSON
Schema files in schemas/json/ describe the same shapes for other languages.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

SPECVERSION = "1.0"
REPORT_TYPE = "city.report.v1"
ACTION_VERBS = (
    "accept", "progress", "resolve", "escalate", "assist", "feedback", "note", "return", "reassign",
    "merge",
)  # fmt: skip
ACTION_TYPES = tuple(f"city.incident.{verb}.v1" for verb in ACTION_VERBS)
ASSIST_TYPE = "city.incident.assist.v1"
FEEDBACK_TYPE = "city.incident.feedback.v1"
RETURN_TYPE = (
    "city.incident.return.v1"  # 退单: the lead says the task is not its own (CONTRACT §11)
)
REASSIGN_TYPE = "city.incident.reassign.v1"  # 改派: the district's desk decides a return
MERGE_TYPE = "city.incident.merge.v1"  # 并单: the desk merges a duplicate into another incident
READING_TYPE = "city.reading.v1"  # a sensor reading (CONTRACT §11): stored, evaluated by rules
# Resident-unit claims (认领, docs/claims.md): a community publishes a hard problem, a registered
# resident unit claims it, reports progress and completion, the community confirms or sends back.
CLAIM_VERBS = ("item", "take", "progress", "done", "confirm")
CLAIM_TYPES = tuple(f"city.claim.{verb}.v1" for verb in CLAIM_VERBS)
# A warning period shading the wall's time series (schemas/annotations.py, CONTRACT §7, §11).
ANNOTATION_TYPE = "city.annotation.v1"
EVENT_TYPES = (REPORT_TYPE, *ACTION_TYPES, READING_TYPE, *CLAIM_TYPES, ANNOTATION_TYPE)
CHANNELS = ("hotline", "grid_patrol", "sensor", "video", "app", "department")
SOURCE_PREFIX = "/departments/"
CONTENT_TYPE = "application/json"

# Limits; the JSON Schema files state the same numbers.
MAX_PAYLOAD_BYTES = 65_536
MAX_ID_CHARS = 128
MAX_TITLE_CHARS = 200
MAX_TEXT_CHARS = 4000  # description, comment
MAX_REF_CHARS = 128  # external_ref, reporter_hash, incident_id, sensor_id
MAX_ADDRESS_CHARS = 500
MAX_URL_CHARS = 500  # media_url
MEDIA_URL_PATTERN = r"^https?://[^\s<>\"'\x00-\x1f\x7f]+$"  # an absolute http(s) URL, one token
MAX_METRIC_CHARS = 64
# An early-warning report (docs/early-warning.md) names its step in `sensor.alarm`: "raised"
# opens (or reopens) the sensor's incident, "peak" updates it, "cleared" resolves it.
ALARM_STEPS = ("raised", "peak", "cleared")
# Ids the platform gives the reports it raises itself (rules, silent feeds); such events do not
# count as a feed's own traffic.
PLATFORM_ID_PREFIX = "cityops:"
MIN_SEVERITY, MAX_SEVERITY = 1, 4
MAX_FUTURE_DAYS = 1
MAX_PAST_DAYS = 366

# Unknown fields are ignored everywhere (forward compatibility);
# omit_defaults keeps encodings small.


class Location(msgspec.Struct, omit_defaults=True):
    district: str
    street: str | None = None
    community: str | None = None
    grid: str | None = None
    micro_grid: str | None = None
    lat: float | None = None
    lon: float | None = None
    address: str | None = None


class Sensor(msgspec.Struct, omit_defaults=True):
    sensor_id: str
    metric: str
    value: float
    unit: str | None = None
    threshold: float | None = None
    rule: str | None = None  # the rule that raised it (rules.toml `name`)
    alarm: str | None = None  # one of ALARM_STEPS, for reports raised by a rule


class Reading(msgspec.Struct, omit_defaults=True):
    """city.reading.v1 (CONTRACT §11): one measurement of one sensor."""

    sensor_id: str
    metric: str
    value: float
    location: Location
    unit: str | None = None


class Report(msgspec.Struct, omit_defaults=True):
    channel: str
    category: str
    severity: int
    title: str
    location: Location
    description: str | None = None
    external_ref: str | None = None
    reporter_hash: str | None = None
    sensor: Sensor | None = None
    media_url: str | None = None  # evidence: a photo (Open311 media_url / media upload)


class Action(msgspec.Struct, omit_defaults=True):
    incident_id: str
    department: str
    actor: str | None = None
    comment: str | None = None
    departments: list[str] | None = None
    satisfied: bool | None = None
    resolved: bool | None = None  # feedback: was the problem actually solved? (CONTRACT §11)
    reason: str | None = None  # return: why the task is not the department's own
    to_department: str | None = None  # reassign: the new lead (= the current lead: upheld)
    into: str | None = None  # merge: the incident that takes over this one's reports


class Claim(msgspec.Struct, omit_defaults=True):
    """city.claim.*.v1 (docs/claims.md): one step on one claimable item. `community` names the
    community acting (item, confirm); `unit_id` the resident unit acting (take, progress, done)."""

    item_id: str
    community: str | None = None
    unit_id: str | None = None
    category: str | None = None  # item: one of schemas/claims.py CLAIM_CATEGORIES
    title: str | None = None  # item
    description: str | None = None
    percent: int | None = None  # progress: 0..100
    accepted: bool | None = None  # confirm: true confirms, false sends back
    actor: str | None = None
    comment: str | None = None


class Annotation(msgspec.Struct, omit_defaults=True):
    """city.annotation.v1 (schemas/annotations.py checks it): a warning period."""

    start: datetime
    end: datetime
    label: str
    kind: str
    district: str | None = None  # one district's adcode; absent: the whole city
    actor: str | None = None  # who, within the department (stored in `annotations.actor`)


class Event(msgspec.Struct):
    """A validated event. `department` is parsed from `source`; `time` is UTC."""

    id: str
    type: str
    source: str
    department: str
    time: datetime
    data: Report | Action | Reading | Claim | Annotation
    subject: str | None = None
    partitionkey: str | None = None
    datacontenttype: str | None = None
    dataschema: str | None = None
    raw: bytes = b""  # the structured JSON: the bytes received, or re-encoded from binary mode


class InvalidEvent(ValueError):
    """Why an event was rejected: the field path ("data.location.street", "time", "$") and
    the reason; str() gives "<path>: <reason>"."""

    def __init__(
        self,
        path: str,
        reason: str,
        *,
        event_id: str | None = None,
        source: str | None = None,
        type: str | None = None,  # noqa: A002 - the CloudEvents attribute name
    ) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.event_id = event_id
        self.source = source
        self.type = type
