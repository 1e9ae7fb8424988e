"""The generated grid roster (dashboard/roster.py): one grid worker per grid, one micro-grid
worker per micro-grid, deterministic from the codes, plausible names."""

from __future__ import annotations

import pytest

from cityops.dashboard.roster import GIVEN, SURNAMES, person_name, roster

GRID = "32010500100101"
MICRO = "3201050010010102"

ROSTERS = [
    ((GRID, MICRO), [("grid", GRID), ("micro_grid", MICRO)]),
    ((GRID, ""), [("grid", GRID)]),
    (("", ""), []),
    ((MICRO, GRID), []),  # codes of the wrong level are no place
    (("3201050010010x", ""), []),
]


@pytest.mark.parametrize("codes, expected", ROSTERS)
def test_one_person_per_grid_and_micro_grid(codes, expected):
    assert [(p.level, p.code) for p in roster(*codes)] == expected


def test_names_are_deterministic_and_plausible():
    names = [person_name(f"{GRID[:-2]}{n:02d}", "grid") for n in range(1, 60)]
    assert names == [person_name(f"{GRID[:-2]}{n:02d}", "grid") for n in range(1, 60)]
    assert all(n[0] in SURNAMES and all(c in GIVEN for c in n[1:]) for n in names)
    assert all(2 <= len(n) <= 3 for n in names) and len(set(names)) > 40


def test_roles_are_labelled_in_both_languages():
    grid, micro = roster(GRID, MICRO)
    assert grid.role == ("专职网格员", "grid worker")
    assert micro.role == ("微网格员", "micro-grid worker")
