"""`cityops registry`: counts and JSON-lines export of units, departments and categories."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable


def counts(as_json: bool) -> int:
    from cityops.schemas.registry import load_registry
    from cityops.schemas.taxonomy import CATEGORIES, DEPARTMENTS

    result = {
        **load_registry().counts(),
        "departments": len(DEPARTMENTS),
        "categories": len(CATEGORIES),
    }
    if as_json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:12} {value:>8,}")
    return 0


def export(kind: str) -> int:
    from cityops.schemas.registry import load_registry
    from cityops.schemas.taxonomy import CATEGORIES, DEPARTMENTS

    out = sys.stdout
    rows: Iterable[dict[str, object]]
    if kind == "departments":
        rows = (
            {"code": d.code, "name_zh": d.name_zh, "name_en": d.name_en}
            for d in DEPARTMENTS.values()
        )
    elif kind == "categories":
        rows = (
            {
                "code": c.code,
                "name_zh": c.name_zh,
                "name_en": c.name_en,
                "lead_department": c.lead_department,
                "default_severity": c.default_severity,
                "joint_departments": list(c.joint_departments),
            }
            for c in CATEGORIES.values()
        )
    else:
        rows = (_unit_row(u) for u in load_registry().units())
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0


def _unit_row(unit) -> dict:
    row = {"code": unit.code, "level": unit.level, "parent": unit.parent, "name_zh": unit.name_zh}
    if unit.name_en:
        row["name_en"] = unit.name_en
    if unit.grid_type:
        row["grid_type"] = unit.grid_type
    if unit.level == "micro_grid":
        row["households"] = unit.households
    return row
