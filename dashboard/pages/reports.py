"""`/reports`: the daily or weekly report (CONTRACT §12) per district or street — the table with
tiers and ranks, the funnel of stage times — with a date picker, and `/reports.csv` to download
the same rows as the §12 CSV. Signed-in users only (the guard of dashboard/auth.py); an officer
reads their own district's row or their district's streets, whatever the query asks
(storage/reports.py `restrict`), the city's admin everything.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

from dash import Input, Output, dcc, html
from flask import Response, abort, request

from cityops.dashboard import ids
from cityops.dashboard import labels as L
from cityops.dashboard.auth import signed_in
from cityops.dashboard.report_html import HEADERS, STAGE_LABELS, duration_text, percent
from cityops.storage import report_rows as rr
from cityops.storage import reports

_RATES = ("on_time_rate", "closure_rate", "actual_resolution_rate", "satisfaction_rate",
          "repeat_rate")  # fmt: skip


def choice(args) -> tuple[str, str, str]:
    """(period, date, by) of a query; ValueError with a message for a bad value."""
    period = args.get("period") or "daily"
    by = args.get("by") or "district"
    day = args.get("date") or rr.today_beijing().isoformat()
    if period not in rr.PERIODS:
        raise ValueError(f"period must be one of {rr.PERIODS}")
    if by not in reports.BY:
        raise ValueError(f"by must be one of {reports.BY}")
    rr.parse_date(day)
    return period, day, by


def read(backend, user, period: str, day: str, by: str) -> reports.Report:
    """The whole city's report (fair tiers and ranks), cut to what `user` may read."""
    chosen = rr.period(period, rr.parse_date(day))
    full = backend.run(
        lambda client, db: reports.build(client, db, backend.registry, chosen, by, None)
    )
    return reports.restrict(full, user.scope)


def _split(text: str) -> tuple[str, str]:
    zh, _, en = text.partition(" ")
    return zh, en or zh


def body(report: reports.Report, lang: str = "zh") -> list:
    head = [html.Th(L.t(*_split(HEADERS[c]))) for c in rr.COLUMNS]
    lines = [html.Tr(head)]
    for row in report.rows:
        code = row["unit_code"]
        name = row["unit_name"] if lang == "zh" else report.names_en.get(code, row["unit_name"])
        cells = [code, name, row["tier"], row["rank"] or "—", f"{row['events']:,}",
                 f"{row['incidents']:,}"] + [percent(row[c]) for c in _RATES]  # fmt: skip
        lines.append(html.Tr([html.Td(str(c)) for c in cells]))
    funnel = [html.Tr([html.Th(L.t("单位", "unit"))] +
                      [html.Th(L.t(*_split(STAGE_LABELS[s]))) for s in rr.STAGES])]  # fmt: skip
    for row in report.rows:
        stats = report.funnels.get(row["unit_code"], {})
        cells = []
        for stage in rr.STAGES:
            s = stats.get(stage) or {"n": 0, "median_s": None, "p90_s": None, "within": None}
            cells.append(
                html.Td(
                    f"{duration_text(s['median_s'])} / {duration_text(s['p90_s'])}"
                    f" · {percent(s['within'])} (n={s['n']})"
                )
            )
        funnel.append(html.Tr([html.Td(row["unit_name"])] + cells))
    return [
        html.P(f"{report.period.label} · UTC+8", className="report-period"),
        html.Table(lines, id=ids.REPORT_TABLE, className="grid-table"),
        html.H2(L.t("流程用时 中位数 / P90 · 时限内", "stage times median / p90 · within limit")),
        html.Table(funnel, id=ids.REPORT_FUNNEL, className="grid-table"),
    ]


def _csv_href(period: str, day: str, by: str) -> str:
    return "/reports.csv?" + urlencode({"period": period, "date": day, "by": by})


def layout(backend, user, search: str, lang: str = "zh") -> html.Div:
    args = {k: v[-1] for k, v in parse_qs(search.lstrip("?")).items()}
    try:
        period, day, by = choice(args)
    except ValueError as exc:
        return html.Div(str(exc), className="denied")
    try:
        content = body(read(backend, user, period, day, by), lang)
    except Exception:  # noqa: BLE001 - shown as a message, not a traceback
        content = [html.Div(L.t("数据库不可达", "storage unreachable"), className="error")]
    controls = html.Div(
        [
            dcc.DatePickerSingle(id=ids.REPORT_DATE, date=day, display_format="YYYY-MM-DD"),
            dcc.RadioItems(
                id=ids.REPORT_PERIOD,
                value=period,
                options=[
                    {"label": L.t("日报", "daily"), "value": "daily"},
                    {"label": L.t("周报", "weekly"), "value": "weekly"},
                ],  # fmt: skip
                inline=True,
            ),
            dcc.RadioItems(
                id=ids.REPORT_BY,
                value=by,
                options=[
                    {"label": L.t("按区", "by district"), "value": "district"},
                    {"label": L.t("按街道", "by street"), "value": "street"},
                ],  # fmt: skip
                inline=True,
            ),
            html.A(
                L.t("下载 CSV", "download CSV"), id=ids.REPORT_CSV, href=_csv_href(period, day, by)
            ),  # fmt: skip
        ],
        className="report-controls",
    )
    return html.Div(
        [
            html.H1(L.t("运行报告", "reports")),
            html.P(
                L.t(
                    "梯队按户数划分，排名仅在同一梯队内比较。",
                    "Tiers by households; ranks only within a tier.",
                ),  # fmt: skip
                className="note",
            ),
            controls,
            html.Div(content, id=ids.REPORT_BODY),
        ],
        className="reports-page",
    )


def register(app, backend) -> None:
    @app.callback(
        Output(ids.REPORT_BODY, "children"),
        Output(ids.REPORT_CSV, "href"),
        Input(ids.REPORT_DATE, "date"),
        Input(ids.REPORT_PERIOD, "value"),
        Input(ids.REPORT_BY, "value"),
        prevent_initial_call=True,
    )
    def update(day, period, by):
        user = signed_in()
        if user is None:  # the guard answers 401 first; never rows without a user
            return [html.Div(L.t("请先登录。", "Please sign in."))], ""
        try:
            period, day, by = choice({"period": period, "date": (day or "")[:10], "by": by})
            return body(read(backend, user, period, day, by)), _csv_href(period, day, by)
        except ValueError as exc:
            return [html.Div(str(exc), className="denied")], ""
        except Exception:  # noqa: BLE001 - shown as a message
            return [html.Div(L.t("数据库不可达", "storage unreachable"), className="error")], ""

    server = app.server

    @server.route("/reports.csv")
    def report_csv():
        user = signed_in()
        if user is None:
            abort(401)
        try:
            period, day, by = choice(request.args)
        except ValueError as exc:
            return Response(f"{exc}\n", status=400, mimetype="text/plain")
        report = read(backend, user, period, day, by)
        name = f"cityops-{period}-{day}-{by}.csv"
        return Response(
            reports.csv_text(report),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
