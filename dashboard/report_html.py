"""A report (storage/reports.py) as one self-contained HTML file: the §12 table, a chart of the
rates per unit, the funnel per unit (median and p90 of each stage against its limit) and the
returns audit (退单审核: per unit and returning department, upheld / reassigned / pending), plotly
inlined so the file opens offline. Every name is escaped; `cityops report --format pdf` prints
this file with headless Chromium (deploy/report_cli.py). Chinese labels first, English after.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go

from cityops.schemas.taxonomy import DEPARTMENTS
from cityops.storage import report_rows as rr
from cityops.storage import reports as reports_mod

HEADERS = {
    "unit_code": "代码 code",
    "unit_name": "名称 name",
    "tier": "梯队 tier",
    "rank": "梯队内排名 rank in tier",
    "events": "事件数 events",
    "incidents": "事项数 incidents",
    "on_time_rate": "按时办理率 on time",
    "closure_rate": "办结率 closure",
    "actual_resolution_rate": "实际解决率 actual resolution",
    "satisfaction_rate": "满意率 satisfaction",
    "repeat_rate": "重复投诉率 repeat",
}
STAGE_LABELS = {
    "dispatched": "受理→派遣 received→dispatched",
    "accepted": "派遣→签收 dispatched→accepted",
    "resolved": "签收→办结 accepted→resolved",
    "callback": "办结→回访 resolved→callback",
}
DEFAULT_LIMITS = {
    "dispatched": "—",
    "accepted": "各事项签收时限 each incident's acceptance deadline",
    "resolved": "各事项办结时限 each incident's resolution deadline",
    "callback": "回访时限 callback deadline",
}
_STYLE = """
body{font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC",sans-serif;margin:24px;color:#111}
table{border-collapse:collapse;margin:12px 0;font-size:13px}
th,td{border:1px solid #bbb;padding:3px 6px;text-align:right}
td.name,th{text-align:left}
h2{margin-top:28px}
.note{color:#555;font-size:12px}
"""


def duration_text(seconds: float | None) -> str:
    """Seconds as a short duration: 45s, 12m, 3.5h, 2.1d; '—' for None."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _cell(column: str, value) -> str:
    if column.endswith("_rate"):
        return percent(value)
    return "—" if value is None else str(value)


def _table(report) -> str:
    head = "".join(f"<th>{html.escape(HEADERS[c])}</th>" for c in rr.COLUMNS)
    body = []
    for row in report.rows:
        cells = []
        for c in rr.COLUMNS:
            css = ' class="name"' if c == "unit_name" else ""
            cells.append(f"<td{css}>{html.escape(_cell(c, row[c]))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table id="report-table"><tr>{head}</tr>{"".join(body)}</table>'


def _funnel_tables(report, limits: dict[str, str]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("阶段 stage", "件数 n", "中位数 median", "P90", "时限 limit", "时限内 within")
    )
    parts = []
    for row in report.rows:
        code = row["unit_code"]
        stats = report.funnels.get(code, {})
        lines = []
        for stage in rr.STAGES:
            s = stats.get(stage, {"n": 0, "median_s": None, "p90_s": None, "within": None})
            lines.append(
                "<tr>"
                f'<td class="name">{html.escape(STAGE_LABELS[stage])}</td><td>{s["n"]}</td>'
                f"<td>{duration_text(s['median_s'])}</td><td>{duration_text(s['p90_s'])}</td>"
                f'<td class="name">{html.escape(limits.get(stage, "—"))}</td>'
                f"<td>{percent(s['within'])}</td></tr>"
            )
        title = html.escape(f"{row['unit_name']} ({code})")
        parts.append(
            f"<h3>{title}</h3><table class='funnel'><tr>{head}</tr>{''.join(lines)}</table>"
        )
    return "".join(parts)


RETURNS_HEADERS = ("代码 code", "名称 name", "退单部门 returned by", "退单 returns", "维持 upheld",
                   "改派 reassigned", "待审核 pending")  # fmt: skip


def department_text(code: str) -> str:
    d = DEPARTMENTS.get(code)
    return f"{d.name_zh} {d.name_en}" if d else code


def _returns_table(report) -> str:
    rows = reports_mod.returns_rows(report)
    if not rows:
        return '<p class="note" id="report-returns">本期无退单 · no returns in the period</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in RETURNS_HEADERS)
    body = []
    for r in rows:
        names = (r["unit_code"], r["unit_name"], department_text(r["department"]))
        cells = "".join(f'<td class="name">{html.escape(str(v))}</td>' for v in names)
        cells += "".join(
            f"<td>{int(r[c])}</td>" for c in ("returns", "upheld", "reassigned", "pending")
        )
        body.append(f"<tr>{cells}</tr>")
    return f'<table id="report-returns"><tr>{head}</tr>{"".join(body)}</table>'


def rates_figure(report) -> go.Figure:
    names = [f"{r['unit_name']} · T{r['tier']}" for r in report.rows]
    fig = go.Figure()
    for column in ("on_time_rate", "closure_rate", "actual_resolution_rate", "satisfaction_rate"):
        values = [None if r[column] is None else r[column] * 100 for r in report.rows]
        fig.add_bar(name=HEADERS[column], x=names, y=values)
    fig.update_layout(barmode="group", yaxis_title="%", height=420, margin=dict(t=30, b=120))
    return fig


def funnel_figure(report) -> go.Figure:
    """Median hours of each stage per unit, stacked: where the time goes."""
    names = [r["unit_name"] for r in report.rows]
    fig = go.Figure()
    for stage in rr.STAGES:
        values = []
        for r in report.rows:
            median = report.funnels.get(r["unit_code"], {}).get(stage, {}).get("median_s")
            values.append(None if median is None else median / 3600)
        fig.add_bar(name=STAGE_LABELS[stage], x=names, y=values)
    fig.update_layout(barmode="stack", yaxis_title="h (median)", height=420,
                      margin=dict(t=30, b=120))  # fmt: skip
    return fig


def _figure_html(fig: go.Figure, div_id: str, include_js: bool) -> str:
    # plotly writes the figure's JSON with "<" and ">" as \u003c, \u003e: a unit's name cannot
    # close the <script> holding it (tests/unit/dashboard/test_report_html.py)
    return fig.to_html(full_html=False, include_plotlyjs=include_js, div_id=div_id)


def render(report, limits: dict[str, str] | None = None) -> str:
    """The report as a complete HTML document."""
    limits = {**DEFAULT_LIMITS, **(limits or {})}
    by = "区 district" if report.by == "district" else "街道 street"
    kind = "日报 daily" if report.period.kind == "daily" else "周报 weekly"
    title = f"运行报告 report · {kind} · {report.period.label} · {by}"
    scope = f" · {report.scope}" if report.scope else ""
    charts = _figure_html(rates_figure(report), "report-rates", True)
    charts += _figure_html(funnel_figure(report), "report-funnel", False)
    return f"""<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>{html.escape(title + scope)}</h1>
<p class="note">时间为北京时间 (UTC+8)；梯队按户数划分，排名仅在同一梯队内 · Beijing time; tiers by
households, ranks only within a tier (docs/reports.md).</p>
{_table(report)}
<h2>各项比率 rates</h2>
{charts}
<h2>流程各阶段用时 stage times</h2>
{_funnel_tables(report, limits)}
<h2>退单审核 returns audit</h2>
<p class="note">本期退单（按退单时间）及调度台的审核结果：维持、改派、待审核 · returns made in the
period (by time of return) and the dispatch desk's decisions: upheld, reassigned, pending.</p>
{_returns_table(report)}
</body></html>
"""
