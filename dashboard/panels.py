"""HTML panels of the wall built from query results: the joint-handling board, the ticker and the
alerts. Pure functions; every text from events goes in as a Dash child, so React escapes it
(a title `<script>…` is shown as text, never parsed)."""

from __future__ import annotations

import datetime as dt

from dash import html

from cityops.dashboard import labels as L
from cityops.dashboard.kpis import format_age


def _hhmm(ts: int, tz) -> str:
    return dt.datetime.fromtimestamp(ts, tz).strftime("%H:%M:%S")


def time_used(reported_at: int, due: int, now: int) -> float:
    """Share of the time allowed that is used up (1.0 = at the deadline)."""
    span = max(1, due - reported_at)
    return max(0.0, (now - reported_at) / span)


def _chip(department: str, status: str, role: str) -> html.Span:
    zh, en = L.department_short(department)
    state = status or "assigned"
    return html.Span(
        [html.Span(zh, className="zh"), html.Span(en, className="en")],
        className=f"chip chip-{role} chip-{state}",
        title=f"{department}: {state}",
    )


def joint_board(incidents: list[dict], tasks: list[dict], now: int, district_names) -> html.Div:
    """Active joint incidents: lead and assisting departments as status chips, time used."""
    if not incidents:
        return html.Div(L.t("暂无联合处置事项", "no joint handling in progress"), className="empty")
    by_incident: dict[str, list[dict]] = {}
    for task in tasks:
        by_incident.setdefault(task["incident_id"], []).append(task)
    rows = []
    for inc in incidents:
        used = time_used(inc["reported_at"], inc["resolve_due"], now)
        chips = []
        known = by_incident.get(inc["incident_id"], [])
        seen = {t["department"] for t in known}
        for task in sorted(known, key=lambda t: (t["role"] != "lead", t["department"])):
            chips.append(_chip(task["department"], task["status"], task["role"]))
        for dept in inc["departments"]:
            if dept not in seen:
                role = "lead" if dept == inc["lead_department"] else "assist"
                chips.append(_chip(dept, "assigned", role))
        zh, en = district_names(inc["district"])
        overdue = used > 1.0
        rows.append(
            html.Div(
                [
                    html.Div(
                        [
                            html.Span(inc["title"], className="jb-title"),
                            html.Span(
                                [html.Span(zh, className="zh"), html.Span(en, className="en")],
                                className="jb-district",
                            ),
                        ],
                        className="jb-head",
                    ),
                    html.Div(chips, className="jb-chips"),
                    html.Div(
                        [
                            html.Div(
                                className="jb-bar-fill" + (" overdue" if overdue else ""),
                                style={"width": f"{min(used, 1.0) * 100:.0f}%"},
                            ),
                            html.Span(
                                L.t("超时", "overdue") if overdue else f"{used * 100:.0f}%",
                                className="jb-bar-text",
                            ),
                        ],
                        className="jb-bar",
                    ),
                ],
                className="jb-row" + (" overdue" if overdue else ""),
            )
        )
    return html.Div(rows, className="jb-list")


_KIND = {
    "city.report.v1": ("上报", "report"),
    "city.incident.accept.v1": ("受理", "accept"),
    "city.incident.progress.v1": ("进展", "progress"),
    "city.incident.resolve.v1": ("办结", "resolve"),
    "city.incident.escalate.v1": ("提级", "escalate"),
    "city.incident.assist.v1": ("协办", "assist"),
    "city.incident.feedback.v1": ("回访", "feedback"),
    "city.incident.note.v1": ("备注", "note"),
}


def _transition_label(kind: str, to_status: str) -> tuple[str, str]:
    if "breach" in kind:
        return ("超时", "SLA breach")
    if "escalat" in kind:
        return ("提级", "escalated")
    return L.STATUS.get(to_status, (kind or to_status, kind or to_status))


def ticker_items(events: list[dict], transitions: list[dict], limit: int = 12) -> list[dict]:
    """Newest reports, actions and incident changes merged into one stream, newest first."""
    items = []
    for e in events:
        zh, en = _KIND.get(e["type"], (e["type"], e["type"]))
        cls = "extreme" if e["type"] == "city.report.v1" and int(e["severity"] or 0) >= 4 else ""
        items.append(
            {
                "time": e["time"],
                "zh": zh,
                "en": en,
                "text": e["title"] or e["category"],
                "district": e["district"],
                "cls": cls,
                "key": f"e:{e['id']}",
            }
        )
    for tr in transitions:
        zh, en = _transition_label(tr["kind"], tr["to_status"])
        cls = "breach" if "breach" in tr["kind"] else "escalate" if "escalat" in tr["kind"] else ""
        items.append(
            {
                "time": tr["time"],
                "zh": zh,
                "en": en,
                "text": f"{tr['incident_id']} {tr['reason']}".strip(),
                "district": "",
                "cls": cls,
                "key": f"t:{tr['incident_id']}:{tr['seq']}",
            }
        )
    items.sort(key=lambda item: (-item["time"], item["key"]))
    return items[:limit]


def ticker(items: list[dict], tz, district_names) -> html.Div:
    if not items:
        return html.Div(L.t("暂无动态", "nothing yet"), className="empty")
    rows = []
    for item in items:
        dzh, den = district_names(item["district"]) if item["district"] else ("", "")
        rows.append(
            html.Div(
                [
                    html.Span(_hhmm(item["time"], tz), className="tk-time"),
                    html.Span(
                        [
                            html.Span(item["zh"], className="zh"),
                            html.Span(item["en"], className="en"),
                        ],
                        className="tk-kind",
                    ),
                    html.Span(
                        [html.Span(dzh, className="zh"), html.Span(den, className="en")],
                        className="tk-district",
                    ),
                    html.Span(item["text"], className="tk-text"),
                ],
                className=f"tk-row {item['cls']}",
            )
        )
    return html.Div(rows, className="tk-list")


def _report_count(matter: dict) -> list:
    """The reports behind a matter (its opening report and the repeats linked to it), when more
    than one."""
    reports = int(matter.get("repeat_count") or 0) + 1
    if reports == 1:
        return []
    return [L.t(f"{reports} 条报告", f"{reports} reports", className="al-count")]


def alerts(severe: list[dict], now: int, district_names, window: int = 6 * 3600) -> html.Div:
    """New extreme incidents and open incidents past their deadline, most urgent first, each with
    how many reports it gathered (one matter reported from a whole community stays one row)."""
    extreme = [m for m in severe if int(m["severity"]) >= 4 and now - m["reported_at"] <= window]
    overdue = [m for m in severe if m["breaches"] > 0 and m not in extreme]
    rows = []
    for m in (extreme + overdue)[:5]:
        zh, en = district_names(m["district"])
        tag = L.t("特别重大", "extreme") if m in extreme else L.t("超时", "overdue")
        rows.append(
            html.Div(
                [
                    html.Span(tag, className="al-tag"),
                    html.Span(
                        [html.Span(zh, className="zh"), html.Span(en, className="en")],
                        className="al-district",
                    ),
                    html.Span(m["title"], className="al-text"),
                    *_report_count(m),
                    html.Span(format_age(now - m["reported_at"]), className="al-age"),
                ],
                className="al-row" + (" extreme" if m in extreme else " breach"),
            )
        )
    if not rows:
        return html.Div(L.t("无紧急告警", "no urgent alerts"), className="empty")
    return html.Div(rows, className="al-list")
