"""The returns audit in the report (storage/reports.py, dashboard/report_html.py): its HTML
section with each unit and department, names escaped; an officer's report keeps their district's
returns only; the returns CSV beside the §12 CSV, whose columns do not change."""

from __future__ import annotations

import csv
import io

from cityops.dashboard import report_html
from cityops.storage import report_rows as rr
from cityops.storage.reports import RETURNS_COLUMNS, Report, csv_text, restrict, returns_csv_text

EVIL = "<img src=x onerror=alert(1)>"
RETURNS = [
    {"unit_code": "320102", "department": "water", "returns": 1, "upheld": 0, "reassigned": 0,
     "pending": 1},
    {"unit_code": "320105", "department": "urban_mgmt", "returns": 3, "upheld": 1,
     "reassigned": 1, "pending": 1},
    {"unit_code": "320105", "department": EVIL, "returns": 1, "upheld": 1, "reassigned": 0,
     "pending": 0},
]  # fmt: skip


def _report(returns=RETURNS) -> Report:
    units = [rr.Unit("320105", "建邺区", 10), rr.Unit("320102", "玄武区", 5)]
    rows = rr.rows(units, {}, {})
    period = rr.period("daily", rr.parse_date("2026-12-01"))
    return Report(period, "district", None, rows, {}, {}, returns)


def _section(page: str) -> str:
    return page[page.index("退单审核 returns audit") :]


def test_the_html_report_has_the_returns_section():
    section = _section(report_html.render(_report()))
    assert 'id="report-returns"' in section
    assert "城市管理" in section or "urban_mgmt" in section
    line = (
        '<td class="name">320105</td><td class="name">建邺区</td><td class="name">'
        + report_html.department_text("urban_mgmt")
        + "</td><td>3</td><td>1</td><td>1</td><td>1</td>"
    )
    assert line in section
    assert EVIL not in section and "&lt;img src=x" in section


def test_a_period_without_returns_says_so():
    assert "本期无退单" in _section(report_html.render(_report([])))


def test_an_officers_report_keeps_their_districts_returns():
    mine = restrict(_report(), "320105")
    assert {r["unit_code"] for r in mine.returns} == {"320105"} and len(mine.returns) == 2
    assert "玄武区" not in _section(report_html.render(mine))


def test_the_returns_csv_and_the_contract_csv():
    rows = list(csv.reader(io.StringIO(returns_csv_text(_report()))))
    assert tuple(rows[0]) == RETURNS_COLUMNS
    assert rows[1] == ["320102", "玄武区", "water", "1", "0", "0", "1"]
    assert rows[2] == ["320105", "建邺区", "urban_mgmt", "3", "1", "1", "1"]
    assert csv_text(_report()).splitlines()[0] == ",".join(rr.COLUMNS)  # §12 unchanged
