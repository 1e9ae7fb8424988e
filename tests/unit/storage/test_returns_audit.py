"""The returns audit case by case (storage/returns_audit.py): each return paired with the desk's
decision in transition order, redelivered rows counted once, a decision whose return lies before
the window left out, and the counts per department and per unit."""

from __future__ import annotations

from datetime import datetime

import pytest

from cityops.storage import returns_audit as ra


def _t(incident, seq, kind, department, actor="", reason="", minute=0):
    return {"incident_id": incident, "seq": seq, "at": datetime(2026, 12, 1, 8, minute),
            "kind": kind, "department": department, "actor": actor, "reason": reason}  # fmt: skip


UNITS = {"a": ("320105", "320105001"), "b": ("320102", "320102002")}

CASES = [
    # (name, transitions, expected (incident, returned_by, outcome, decided_by) newest first)
    (
        "pending",
        [_t("a", 3, "returned", "urban_mgmt", reason="物业")],
        [("a", "urban_mgmt", "pending", "")],
    ),
    (
        "upheld",
        [
            _t("a", 3, "returned", "urban_mgmt"),
            _t("a", 4, "return_upheld", "desk_320105", "jianye", minute=5),
        ],
        [("a", "urban_mgmt", "upheld", "jianye")],
    ),
    (
        "reassigned then returned again, pending",
        [
            _t("a", 3, "returned", "urban_mgmt", minute=1),
            _t("a", 4, "reassigned", "desk_320105", "jianye", "urban_mgmt → housing", minute=2),
            _t("a", 5, "returned", "housing", minute=3),
        ],
        [("a", "housing", "pending", ""), ("a", "urban_mgmt", "reassigned", "jianye")],
    ),
    (
        "a redelivered row counts once",
        [
            _t("b", 3, "returned", "water"),
            _t("b", 3, "returned", "water"),
            _t("b", 4, "reassigned", "desk_320102", "admin"),
            _t("b", 4, "reassigned", "desk_320102", "admin"),
        ],
        [("b", "water", "reassigned", "admin")],
    ),
    (
        "a decision of a return before the window answers nothing in it",
        [_t("a", 4, "return_upheld", "desk_320105", "jianye"), _t("a", 5, "returned", "water")],
        [("a", "water", "pending", "")],
    ),
    ("other kinds are ignored", [_t("a", 2, "dispatched", "urban_mgmt")], []),
]


@pytest.mark.parametrize("name, transitions, expected", CASES, ids=[c[0] for c in CASES])
def test_each_return_is_paired_with_its_decision(name, transitions, expected):
    cases = ra.pair(transitions, UNITS)
    got = [(c["incident_id"], c["returned_by"], c["outcome"], c["decided_by"]) for c in cases]
    assert got == expected


def test_a_case_carries_reason_desk_time_and_unit():
    (case,) = ra.pair(
        [_t("a", 3, "returned", "urban_mgmt", "u1", "位于小区内部", minute=1),
         _t("a", 4, "reassigned", "desk_320105", "jianye", "urban_mgmt → housing", minute=9)],
        UNITS,
    )  # fmt: skip
    assert case["reason"] == "位于小区内部" and case["returned_actor"] == "u1"
    assert case["desk"] == "desk_320105" and case["note"] == "urban_mgmt → housing"
    assert case["decided_at"] == datetime(2026, 12, 1, 8, 9)
    assert (case["district"], case["street"]) == UNITS["a"]
    assert ra.pair([_t("z", 1, "returned", "water")])[0]["district"] == ""  # unknown unit


def test_counts_per_department_and_unit():
    cases = ra.pair(
        [_t("a", 3, "returned", "urban_mgmt"), _t("a", 4, "return_upheld", "desk_320105"),
         _t("a", 5, "returned", "urban_mgmt"),
         _t("b", 3, "returned", "urban_mgmt"), _t("b", 4, "reassigned", "desk_320102"),
         _t("b", 5, "returned", "water")],
        UNITS,
    )  # fmt: skip
    assert ra.by_department(cases) == [
        {"department": "urban_mgmt", "returns": 3, "upheld": 1, "reassigned": 1, "pending": 1},
        {"department": "water", "returns": 1, "upheld": 0, "reassigned": 0, "pending": 1},
    ]
    assert ra.by_unit(cases, "district") == [
        {"unit_code": "320102", "department": "urban_mgmt", "returns": 1, "upheld": 0,
         "reassigned": 1, "pending": 0},
        {"unit_code": "320102", "department": "water", "returns": 1, "upheld": 0,
         "reassigned": 0, "pending": 1},
        {"unit_code": "320105", "department": "urban_mgmt", "returns": 2, "upheld": 1,
         "reassigned": 0, "pending": 1},
    ]  # fmt: skip
    assert [r["unit_code"] for r in ra.by_unit(cases, "street")][0] == "320102002"
    with pytest.raises(ValueError, match="level must be"):
        ra.by_unit(cases, "community; DROP")
