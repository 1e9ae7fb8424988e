"""Rules on a decoded event's data that types alone cannot express: ranges, lengths, and codes
checked against the taxonomy and the city registry. Called by the validator (schemas/events.py).
"""

from __future__ import annotations

import math
import re

from cityops.schemas.event_types import (
    ALARM_STEPS,
    ASSIST_TYPE,
    CHANNELS,
    FEEDBACK_TYPE,
    MAX_ADDRESS_CHARS,
    MAX_METRIC_CHARS,
    MAX_REF_CHARS,
    MAX_SEVERITY,
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    MEDIA_URL_PATTERN,
    MERGE_TYPE,
    MIN_SEVERITY,
    REASSIGN_TYPE,
    RETURN_TYPE,
    SOURCE_PREFIX,
    Action,
    InvalidEvent,
    Location,
    Reading,
    Report,
)
from cityops.schemas.registry import Registry
from cityops.schemas.taxonomy import CATEGORIES, DEPARTMENTS

_CHANNELS = frozenset(CHANNELS)
# The optional location codes from the top down; each must lie in the nearest code given above it.
_LOWER_LEVELS = ("street", "community", "grid", "micro_grid")
# Coordinates may name the neighbouring district this close to the claimed one: the boundaries
# are simplified by up to about 150 m (schemas/geo.py), so near a border either answer can be right.
BORDER_SLACK_M = 200.0
_MEDIA_URL = re.compile(MEDIA_URL_PATTERN)


def quote(value: str, limit: int = 40) -> str:
    """A value as it appears in an error message, cut short so messages stay readable."""
    return f'"{value[:limit]}…"' if len(value) > limit else f'"{value}"'


def check_text(path: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise InvalidEvent(path, f"longer than {limit} characters")


def check_report(report: Report, partitionkey: str | None, registry: Registry) -> None:
    if report.channel not in _CHANNELS:
        raise InvalidEvent("data.channel", f"unknown channel {quote(report.channel)}")
    if report.category not in CATEGORIES:
        raise InvalidEvent("data.category", f"unknown category {quote(report.category)}")
    if not MIN_SEVERITY <= report.severity <= MAX_SEVERITY:
        raise InvalidEvent("data.severity", f"must be between {MIN_SEVERITY} and {MAX_SEVERITY}")
    if not report.title.strip():
        raise InvalidEvent("data.title", "must not be empty")
    check_text("data.title", report.title, MAX_TITLE_CHARS)
    check_text("data.description", report.description, MAX_TEXT_CHARS)
    check_text("data.external_ref", report.external_ref, MAX_REF_CHARS)
    check_text("data.reporter_hash", report.reporter_hash, MAX_REF_CHARS)
    if report.media_url is not None:
        check_text("data.media_url", report.media_url, MAX_URL_CHARS)
        if not _MEDIA_URL.match(report.media_url):
            raise InvalidEvent("data.media_url", "must be an absolute http or https URL")
    if report.sensor is not None:
        if not report.sensor.sensor_id:
            raise InvalidEvent("data.sensor.sensor_id", "must not be empty")
        check_text("data.sensor.sensor_id", report.sensor.sensor_id, MAX_REF_CHARS)
        alarm = report.sensor.alarm
        if alarm is not None and alarm not in ALARM_STEPS:
            raise InvalidEvent("data.sensor.alarm", f"must be one of {', '.join(ALARM_STEPS)}")
    check_location(report.location, registry)
    if partitionkey is not None:
        location = report.location
        expected, what = (
            (location.street, "street") if location.street else (location.district, "district")
        )
        if partitionkey != expected:
            raise InvalidEvent("partitionkey", f'must be the report\'s {what} code "{expected}"')


def check_reading(reading: Reading, partitionkey: str | None, registry: Registry) -> None:
    if not reading.sensor_id:
        raise InvalidEvent("data.sensor_id", "must not be empty")
    check_text("data.sensor_id", reading.sensor_id, MAX_REF_CHARS)
    if not reading.metric:
        raise InvalidEvent("data.metric", "must not be empty")
    check_text("data.metric", reading.metric, MAX_METRIC_CHARS)
    check_text("data.unit", reading.unit, MAX_METRIC_CHARS)
    # NaN and infinities are valid JSON numbers for msgspec, never a sensor's measurement.
    if not math.isfinite(reading.value):
        raise InvalidEvent("data.value", "must be a finite number")
    check_location(reading.location, registry)
    if partitionkey is not None:
        location = reading.location
        expected = location.street or location.district
        if partitionkey != expected:
            raise InvalidEvent("partitionkey", f'must be the reading\'s street code "{expected}"')


def check_location(location: Location, registry: Registry) -> None:
    district = registry.unit(location.district)
    if district is None or district.level != "district":
        raise InvalidEvent("data.location.district", f"unknown district {quote(location.district)}")
    above_level, above_code = "district", location.district
    for level in _LOWER_LEVELS:
        code = getattr(location, level)
        if code is None:
            continue
        unit = registry.unit(code)
        if unit is None or unit.level != level:
            raise InvalidEvent(f"data.location.{level}", f"unknown {level} {quote(code)}")
        # Codes nest by prefix (CONTRACT §2), so "inside" is a prefix test.
        if not code.startswith(above_code):
            raise InvalidEvent(
                f"data.location.{level}",
                f'{level} "{code}" is not in {above_level} "{above_code}"',
            )
        above_level, above_code = level, code
    check_text("data.location.address", location.address, MAX_ADDRESS_CHARS)
    lat, lon = location.lat, location.lon
    if lat is None and lon is None:
        return
    if lon is None:
        raise InvalidEvent("data.location.lon", "required when lat is given")
    if lat is None:
        raise InvalidEvent("data.location.lat", "required when lon is given")
    found = registry.district_at(lat, lon)
    if found is None:
        raise InvalidEvent("data.location", f"coordinates ({lat}, {lon}) are outside the city")
    if (
        found != location.district
        and registry.distance_to_district_m(lat, lon, location.district) > BORDER_SLACK_M
    ):
        raise InvalidEvent(
            "data.location",
            f'coordinates ({lat}, {lon}) are in district "{found}", not "{location.district}"',
        )


def sender_mismatch(sender: str, claimed: str) -> str | None:
    """Why an action that names `claimed` in data.department may not come from `sender` (the
    department of its source): a department acts only in its own name (CONTRACT §8)."""
    if claimed == sender:
        return None
    return (
        f"{quote(claimed)} is not the sender {quote(sender)} "
        f"(source {SOURCE_PREFIX}{sender}): a department acts only in its own name"
    )


def check_action(action: Action, event_type: str, sender: str) -> None:
    if not action.incident_id:
        raise InvalidEvent("data.incident_id", "must not be empty")
    check_text("data.incident_id", action.incident_id, MAX_REF_CHARS)
    if action.department not in DEPARTMENTS:
        raise InvalidEvent("data.department", f"unknown department {quote(action.department)}")
    mismatch = sender_mismatch(sender, action.department)
    if mismatch:
        raise InvalidEvent("data.department", mismatch)
    check_text("data.actor", action.actor, MAX_REF_CHARS)
    check_text("data.comment", action.comment, MAX_TEXT_CHARS)
    if action.departments is not None:
        for index, code in enumerate(action.departments):
            if code not in DEPARTMENTS:
                raise InvalidEvent(
                    f"data.departments[{index}]", f"unknown department {quote(code)}"
                )
    if event_type == ASSIST_TYPE:
        if action.departments is None:
            raise InvalidEvent("data.departments", f"required for {ASSIST_TYPE}")
        if not action.departments:
            raise InvalidEvent("data.departments", "must not be empty")
    elif event_type == FEEDBACK_TYPE and action.satisfied is None:
        raise InvalidEvent("data.satisfied", f"required for {FEEDBACK_TYPE}")
    elif event_type == RETURN_TYPE:
        if action.reason is None:
            raise InvalidEvent("data.reason", f"required for {RETURN_TYPE}")
        if not action.reason.strip():
            raise InvalidEvent("data.reason", "must not be empty")
    elif event_type == REASSIGN_TYPE:
        if action.to_department is None:
            raise InvalidEvent("data.to_department", f"required for {REASSIGN_TYPE}")
        if action.to_department not in DEPARTMENTS:
            raise InvalidEvent(
                "data.to_department", f"unknown department {quote(action.to_department)}"
            )
    elif event_type == MERGE_TYPE:
        if action.into is None:
            raise InvalidEvent("data.into", f"required for {MERGE_TYPE}")
        if not action.into:
            raise InvalidEvent("data.into", "must not be empty")
    check_text("data.into", action.into, MAX_REF_CHARS)
    check_text("data.reason", action.reason, MAX_TEXT_CHARS)
