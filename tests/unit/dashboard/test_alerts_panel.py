"""The wall's alerts panel: an extreme matter shows how many reports it gathered (issue: one gas
leak reported from a whole community is one row with its count, not a dozen rows)."""

from __future__ import annotations

import pytest

from cityops.dashboard import panels

NOW = 1_764_036_000


def _matter(repeat_count: int, severity: int = 4) -> dict:
    return {
        "incident_id": "320106-abc",
        "severity": severity,
        "reported_at": NOW - 600,
        "breaches": 0,
        "district": "320106",
        "title": "燃气泄漏",
        "repeat_count": repeat_count,
    }


def _texts(component) -> list[str]:
    """Every string in a Dash component tree, in order."""
    if isinstance(component, str):
        return [component]
    children = getattr(component, "children", None)
    if children is None:
        return []
    if not isinstance(children, list | tuple):
        children = [children]
    return [text for child in children for text in _texts(child)]


def _counts(component) -> list:
    found = []
    if getattr(component, "className", None) == "al-count":
        found.append(component)
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str):
            found += _counts(child)
    return found


@pytest.mark.parametrize(
    "repeat_count,shown",
    [(0, None), (1, ("2 条报告", "2 reports")), (572, ("573 条报告", "573 reports"))],
)
def test_an_extreme_matter_shows_its_report_count(repeat_count, shown):
    panel = panels.alerts([_matter(repeat_count)], NOW, lambda code: ("鼓楼区", "Gulou"))
    counts = _counts(panel)
    if shown is None:
        assert counts == [] and "特别重大" in _texts(panel)
    else:
        assert [tuple(_texts(c)) for c in counts] == [shown]
