"""Builders for event tests: a valid report or action as a dict, changed field by field."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from cityops.schemas.registry import Registry, load_registry

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DELETE = object()  # a change that removes the field

# One real chain of the sample city: 鼓楼区 宁海路街道 苏州路社区 第2网格 第6微网格.
DISTRICT = "320106"
STREET = "320106001"
COMMUNITY = "320106001002"
GRID = "32010600100202"
MICRO_GRID = "3201060010020206"
LAT, LON = 32.085032, 118.750609


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The cached city registry."""
    return load_registry()


def changed(document: dict, changes: dict[str, Any]) -> dict:
    """A copy of a document with dotted paths ("data.location.street") set or DELETEd."""
    result = copy.deepcopy(document)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = result
        for key in parents:
            node = node[key]
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return result


def a_report(changes: dict[str, Any] | None = None) -> dict:
    """A grid inspector's report with the full location chain and coordinates."""
    document = {
        "specversion": "1.0",
        "id": "grid-320106-0001",
        "source": "/departments/grid_inspect",
        "type": "city.report.v1",
        "time": "2025-06-01T18:05:00+08:00",
        "datacontenttype": "application/json",
        "partitionkey": STREET,
        "data": {
            "channel": "grid_patrol",
            "category": "garbage_sorting",
            "severity": 2,
            "title": "垃圾分类投放点满溢",
            "description": "投放点周边有散落垃圾。",
            "location": {
                "district": DISTRICT,
                "street": STREET,
                "community": COMMUNITY,
                "grid": GRID,
                "micro_grid": MICRO_GRID,
                "lat": LAT,
                "lon": LON,
            },
        },
    }
    return changed(document, changes or {})


def an_action(verb: str = "accept", changes: dict[str, Any] | None = None) -> dict:
    """A department's step on an incident (city.incident.<verb>.v1)."""
    data: dict[str, Any] = {"incident_id": "inc-0001", "department": "urban_mgmt", "actor": "li.na"}
    if verb == "assist":
        data["departments"] = ["traffic_police", "water"]
    if verb == "feedback":
        data["satisfied"] = False
    if verb == "return":
        data["reason"] = "not ours: inside a residential compound"
    if verb == "reassign":
        data["to_department"] = "housing"
    if verb == "merge":
        data["into"] = "inc-0002"
    document = {
        "specversion": "1.0",
        "id": f"urban_mgmt-inc-0001-{verb}",
        "source": "/departments/urban_mgmt",
        "type": f"city.incident.{verb}.v1",
        "time": "2025-06-01T11:30:00Z",
        "data": data,
    }
    return changed(document, changes or {})


def encoded(document: dict) -> bytes:
    return msgspec.json.encode(document)
