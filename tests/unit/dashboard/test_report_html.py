"""The report's HTML (dashboard/report_html.py): one self-contained document, every unit name
escaped in the tables and in the charts' script, durations and rates shown readably."""

from __future__ import annotations

import pytest

from cityops.dashboard import report_html
from cityops.storage import report_rows as rr
from cityops.storage.reports import Report, csv_text

EVIL = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'


def _report() -> Report:
    units = [rr.Unit("320105", EVIL, 10), rr.Unit("320102", "玄武区", 5)]
    counts = {"320105": {"incidents": 2, "on_time": 1, "closed_all": 1}}
    rows = rr.rows(units, counts, {"320105": 3})
    funnel = rr.funnel([{"reported": 0, "dispatched": 5, "accepted": 605, "resolved": None,
                         "callback": None, "accept_due": 1800, "resolve_due": 9}])  # fmt: skip
    period = rr.period("daily", rr.parse_date("2026-12-01"))
    return Report(period, "district", None, rows, {"320105": funnel})


def test_names_are_escaped_everywhere():
    page = report_html.render(_report())
    assert EVIL not in page and "<img src=x" not in page and 'alert("x")</script>' not in page
    assert "&lt;/script&gt;&lt;script&gt;" in page  # the table shows the name as text
    assert page.count("<script") == page.count("</script>")


def test_the_document_is_self_contained_with_both_charts_and_the_funnel():
    page = report_html.render(_report(), {"callback": "3wd"})
    assert page.startswith("<!DOCTYPE html>") and 'src="http' not in page
    assert 'id="report-rates"' in page and 'id="report-funnel"' in page
    assert "<td>10m</td>" in page and "<td>100.0%</td>" in page and "3wd" in page


@pytest.mark.parametrize(
    "seconds, text",
    [(None, "—"), (0, "0s"), (59, "59s"), (590, "10m"), (5400, "1.5h"), (86400 * 3, "3.0d")],
)
def test_durations(seconds, text):
    assert report_html.duration_text(seconds) == text


def test_csv_has_exactly_the_contract_columns_and_quotes_names():
    text = csv_text(_report())
    header, first = text.splitlines()[:2]
    assert header == ",".join(rr.COLUMNS)
    assert first.startswith('320105,"</script>') and first.endswith(",0.5000,0.5000,,,0.0000")
