"""`/incidents/<incident_id>`: one incident for the duty officer — the location chain, deadlines
with time left or overdue, each department's task, the timeline, repeat reports and raw events — and
the officer's actions (acknowledge, note, urge 督办, escalate) and, while a return waits, the
return review (退单审核, pages/incident_review.py), published as CloudEvents.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from cityops.dashboard import evidence, ids
from cityops.dashboard import labels as L
from cityops.dashboard.actions import (
    ACTIONS,
    action_event,
    officer_refusal,
)
from cityops.dashboard.auth import current_scope, signed_in
from cityops.dashboard.backend import TZ
from cityops.dashboard.kpis import format_age
from cityops.dashboard.notifications import merged
from cityops.dashboard.pages.incident_duplicates import duplicates_panel, register_merge
from cityops.dashboard.pages.incident_review import (
    publish_or_refusal,
    register_review,
    review_panel,
)
from cityops.dashboard.pages.incident_review import sent as _sent
from cityops.dashboard.roster import roster
from cityops.storage import incident_pages as ip
from cityops.storage import notifications as sent


def _fmt(ts: int | None) -> str:
    return dt.datetime.fromtimestamp(ts, TZ).strftime("%Y-%m-%d %H:%M:%S") if ts else "—"


def deadline(label: tuple[str, str], due: int | None, done: int | None, now: int) -> html.Div:
    """A deadline with the time left, or how far it is overdue (or met, when done)."""
    if not due:
        state, cls = L.t("—", "—"), ""
    elif done:
        met = done <= due
        state = L.t("按时完成" if met else "超时完成", "met" if met else "late")
        cls = "met" if met else "late"
    elif now <= due:
        state, cls = L.t(f"剩余 {format_age(due - now)}", f"{format_age(due - now)} left"), "left"
    else:
        state = L.t(f"已超时 {format_age(now - due)}", f"overdue by {format_age(now - due)}")
        cls = "overdue"
    return html.Div(
        [
            html.Span(L.t(*label), className="dl-label"),
            html.Span(_fmt(due), className="dl-due"),
            html.Span(state, className=f"dl-state {cls}"),
        ],
        className="deadline",
    )


def location_chain(backend, inc: dict) -> html.Div:
    code = next(
        (inc[k] for k in ("micro_grid", "grid", "community", "street", "district") if inc.get(k)),
        inc.get("district", ""),
    )
    chain = backend.registry.chain(code)
    if not chain:
        return html.Div(code, className="chain-path")
    parts: list[Any] = []
    for unit in chain:
        if parts:
            parts.append(html.Span(" → ", className="arrow"))
        parts.append(
            html.Span(
                [
                    L.pair(L.LEVEL, unit.level),
                    " ",
                    L.t(unit.name_zh, unit.name_en or unit.name_zh),
                    html.Small(f" {unit.code}"),
                ],
                className="chain-unit",
            )
        )
    return html.Div(parts, id=ids.LOCATION_CHAIN, className="chain-path")


def grid_people(inc: dict) -> html.Div | None:
    """The grid's people (网格员 / 微网格员, dashboard/roster.py) of a report at micro-grid
    level; None for a matter placed higher up."""
    people = roster(inc.get("grid") or "", inc.get("micro_grid") or "")
    if not inc.get("micro_grid") or not people:
        return None
    return html.Div(
        [
            html.Span(
                [L.t(*p.role), " ", html.Strong(p.name), html.Small(f" {p.code}")],
                className="grid-person",
            )
            for p in people
        ],
        id="grid-people",
        className="grid-people",
    )


def details(backend, incident_id: str, scope: str | None) -> html.Div:
    """Everything below the header; re-rendered while the page is open."""
    inc = backend.run(ip.incident, incident_id, scope=scope)
    if inc is None:
        return html.Div(
            L.t("事项不存在或不在您的辖区", "no such incident in your area"), className="denied"
        )
    now = int(time.time())
    steps = backend.run(ip.transitions, incident_id)
    tasks = backend.run(ip.tasks_of, (incident_id,))
    events = backend.run(ip.incident_events, incident_id, since=(inc["reported_at"] or now) - 86400)
    reports = [e for e in events if e["type"] == "city.report.v1"]
    attempts = backend.run(sent.attempts_of, incident_id)
    timeline = html.Ol(
        merged(
            [
                (
                    s["time"],
                    html.Li(
                        [
                            html.Span(_fmt(s["time"]), className="tl-time"),
                            html.Span(s["kind"], className="tl-kind"),
                            html.Span(
                                [
                                    L.pair(L.STATUS, s["from_status"], s["from_status"] or "·"),
                                    " → ",
                                    L.pair(L.STATUS, s["to_status"]),
                                ],
                                className="tl-status",
                            ),
                            html.Span(L.pair(L.LEVEL, s["level"]), className="tl-level"),
                            html.Span(L.department(s["department"]), className="tl-dept"),
                            html.Span(s["actor"], className="tl-actor"),
                            html.Span(s["reason"], className="tl-reason"),
                        ],
                        className="tl-item",
                    ),
                )
                for s in steps
            ],
            attempts,
        ),
        id=ids.TIMELINE,
        className="timeline",
    )
    task_rows = html.Table(
        [
            html.Tr(
                [
                    html.Th(L.t(*h))
                    for h in (
                        ("部门", "department"),
                        ("角色", "role"),
                        ("状态", "status"),
                        ("派单", "assigned"),
                        ("接单", "accepted"),
                        ("完成", "done"),
                    )
                ]
            )
        ]
        + [
            html.Tr(
                [
                    html.Td(L.department(t["department"])),
                    html.Td(L.pair(L.ROLE, t["role"])),
                    html.Td(L.pair(L.TASK_STATUS, t["status"])),
                    html.Td(_fmt(t["assigned_at"])),
                    html.Td(_fmt(t["accepted_at"])),
                    html.Td(_fmt(t["done_at"])),
                ]
            )
            for t in tasks
        ],
        id=ids.TASKS,
        className="grid-table",
    )
    repeats = html.Ul(
        [
            html.Li(
                [
                    html.Span(_fmt(e["time"])),
                    " ",
                    html.Span(e["title"]),
                    " ",
                    html.Small(e["source"]),
                ]
            )
            for e in reports[1:]
        ],
        id=ids.REPEATS,
        className="repeats",
    )
    raw = html.Div(
        [
            html.Details(
                [
                    html.Summary(f"{_fmt(e['time'])} · {e['type']} · {e['source']} · {e['id']}"),
                    html.Pre(e["payload"]),
                ]
            )
            for e in events
        ],
        id=ids.RAW_EVENTS,
        className="raw-events",
    )
    return html.Div(
        [
            html.Section(
                [html.H2(L.t("位置", "location")), location_chain(backend, inc), grid_people(inc)]
            ),
            html.Section(
                [
                    html.H2(L.t("时限", "deadlines")),
                    html.Div(
                        [
                            deadline(
                                ("受理时限", "accept by"),
                                inc["accept_due"],
                                inc["accepted_at"],
                                now,
                            ),
                            deadline(
                                ("办结时限", "resolve by"),
                                inc["resolve_due"],
                                inc["resolved_at"] or inc["closed_at"],
                                now,
                            ),
                        ],
                        id=ids.DEADLINES,
                    ),
                ]
            ),
            html.Section([html.H2(L.t("部门任务", "department tasks")), task_rows]),
            html.Section([html.H2(L.t("处置时间线", "timeline")), timeline]),
            html.Section(
                [
                    html.H2(
                        L.t(
                            f"重复诉求 ({max(0, len(reports) - 1)})",
                            f"repeat reports ({max(0, len(reports) - 1)})",
                        )
                    ),
                    repeats,
                ]
            ),
            evidence.section(events, incident_id),
            html.Section([html.H2(L.t("原始事件", "raw events")), raw]),
        ]
    )


def header(inc: dict, backend) -> html.Div:
    zh, en = backend.district_name(inc["district"])
    return html.Div(
        [
            html.H1(inc["title"] or inc["incident_id"], className="incident-title"),
            html.Div(
                [
                    html.Code(inc["incident_id"], id=ids.INCIDENT_ID),
                    L.pair(L.STATUS, inc["status"]),
                    L.pair(L.SEVERITY, int(inc["severity"])),
                    L.category(inc["category"]),
                    L.t(zh, en),
                    L.pair(L.LEVEL, inc["level"]),
                    html.Span(
                        L.t(f"提级 {inc['escalations']}", f"escalations {inc['escalations']}")
                    ),
                    html.Span(L.t(f"重复 {inc['repeat_count']}", f"repeats {inc['repeat_count']}")),
                ],
                className="incident-meta",
            ),
        ],
        className="incident-header",
    )


def actions_panel() -> html.Section:
    buttons = [
        html.Button(
            L.t(zh, en),
            id={"type": "incident-action", "action": name},
            className=f"action action-{name}",
            n_clicks=0,
        )
        for name, (_, zh, en) in ACTIONS.items()
    ]
    return html.Section(
        [
            html.H2(L.t("值班操作", "duty officer actions")),
            dcc.Textarea(id=ids.ACTION_COMMENT, placeholder="说明 / comment", maxLength=2000),
            html.Div(buttons, className="action-buttons"),
            html.Div(id=ids.ACTION_RESULT, className="action-result"),
        ],
        id=ids.ACTIONS,
        className="actions",
    )


def layout(backend, user, incident_id: str) -> html.Div:
    try:
        inc = backend.run(ip.incident, incident_id, scope=user.scope)
        body = details(backend, incident_id, user.scope) if inc else None
    except Exception:  # noqa: BLE001
        return html.Div(L.t("数据库不可达", "storage unreachable"), className="error")
    if inc is None:
        return html.Div(
            L.t("事项不存在或不在您的辖区", "no such incident in your area"), className="denied"
        )
    return html.Div(
        [
            header(inc, backend),
            review_panel(inc, user),
            duplicates_panel(backend, inc, user),
            actions_panel(),
            html.Div(body, id="incident-details"),
            dcc.Store(id="incident-key", data=incident_id),
            dcc.Interval(id=ids.DETAIL_REFRESH, interval=5000),
        ],
        className="incident-page",
    )


def register(app, backend, publisher) -> None:
    register_review(app, backend, publisher)
    register_merge(app, backend, publisher)

    @app.callback(
        Output("incident-details", "children"),
        Input(ids.DETAIL_REFRESH, "n_intervals"),
        Input(ids.ACTION_RESULT, "children"),
        State("incident-key", "data"),
        prevent_initial_call=True,
        running=[(Output(ids.DETAIL_REFRESH, "disabled"), True, False)],
    )
    def refresh(_n, _result, incident_id):
        if signed_in() is None:
            return no_update
        try:
            return details(backend, incident_id, current_scope())
        except Exception:  # noqa: BLE001 - keep what is on screen
            return no_update

    @app.callback(
        Output(ids.ACTION_RESULT, "children"),
        Input({"type": "incident-action", "action": ALL}, "n_clicks"),
        State(ids.ACTION_COMMENT, "value"),
        State("incident-key", "data"),
        prevent_initial_call=True,
    )
    def act(clicks, comment, incident_id):
        if not ctx.triggered_id or not any(clicks or ()):
            return no_update
        user = signed_in()
        if user is None or not user.may_act:  # kiosk, anonymous and secretaries never publish
            return html.Div(L.t("请先登录", "sign in to act"), className="error")
        action = ctx.triggered_id["action"]
        try:
            inc = backend.run(ip.incident, incident_id, scope=user.scope)
        except Exception:  # noqa: BLE001
            return html.Div(L.t("数据库不可达", "storage unreachable"), className="error")
        if inc is None:
            return html.Div(L.t("无权操作该事项", "not in your area"), className="error")
        refusal = officer_refusal(
            actor=user.name,
            scope=user.scope,
            department=user.acting_department,
            incident_district=inc["district"],
            incident_street=inc.get("street") or "",
        )
        if refusal:
            return html.Div(
                [L.t("无权操作该事项：", "not allowed: "), html.Code(refusal)], className="error"
            )
        event = action_event(
            action,
            incident_id=incident_id,
            partitionkey=inc["street"] or inc["district"],
            department=user.acting_department,
            actor=user.name,
            comment=comment or "",
            now=dt.datetime.now(dt.UTC),
        )
        if (refused := publish_or_refusal(publisher, event)) is not None:
            return refused
        _, zh, en = ACTIONS[action]
        return _sent(zh, en)
