"""可能重复 (possible duplicates) and 并单 (merge) on the incident page: other open incidents of the
same category within 50 m and 72 h of this one (storage/duplicates.py), nearest first, each with
its distance, the hours between the reports, its status and a link; for the district's dispatch
desk a button per candidate that merges this incident into it (city.incident.merge.v1, like 改派:
`review_department` says who may, `officer_refusal` checks the officer's scope over both
incidents, the engine checks again, streams/incidents/merge.py). Only incidents inside the
officer's scope are read (the scope is a term of the query).
"""

from __future__ import annotations

import datetime as dt

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from cityops.dashboard import ids
from cityops.dashboard import labels as L
from cityops.dashboard.actions import (
    merge_event,
    officer_refusal,
    review_department,
)
from cityops.dashboard.auth import signed_in
from cityops.dashboard.pages.incident_review import publish_or_refusal
from cityops.storage import duplicates
from cityops.storage import incident_pages as ip

DUPLICATES = "incident-duplicates"
MERGE_BUTTON = "merge-into"  # pattern id {"type": MERGE_BUTTON, "into": <incident id>}
MERGE_RESULT = "merge-result"


def duplicates_panel(backend, inc: dict, user) -> html.Section | None:
    """The section, or None when nothing nearby looks like a duplicate (or storage fails: the
    rest of the page still shows)."""
    try:
        found = backend.run(duplicates.possible_duplicates, inc, scope=user.scope)
    except Exception:  # noqa: BLE001 - a hint, not the page
        return None
    if not found:
        return None
    may = user.may_act and review_department(
        user.acting_department, user.scope, inc["district"]
    )  # fmt: skip
    heads = [("事项", "incident"), ("标题", "title"), ("距离", "distance"), ("相隔", "apart"),
             ("状态", "status")] + ([("并单", "merge")] if may else [])  # fmt: skip
    lines = [html.Tr([html.Th(L.t(*h)) for h in heads])]
    for row in found:
        cells = [
            html.Td(dcc.Link(row["incident_id"], href=f"/incidents/{row['incident_id']}")),
            html.Td(row["title"]),
            html.Td(f"{row['distance_m']:.0f} m", className="dup-distance"),
            html.Td(f"{row['hours_apart']:.1f} h"),
            html.Td(L.pair(L.STATUS, row["status"])),
        ]
        if may:
            button = html.Button(
                L.t("并入此事项", "merge into this"),
                id={"type": MERGE_BUTTON, "into": row["incident_id"]},
                className="action",
                n_clicks=0,
            )
            cells.append(html.Td(button))
        lines.append(html.Tr(cells, **{"data-incident": row["incident_id"]}))
    return html.Section(
        [
            html.H2(L.t("可能重复", "possible duplicates")),
            html.P(
                L.t(
                    "同类事项，50 米内、72 小时内上报；并单后本事项结案，上报并入所选事项",
                    "same category, within 50 m and 72 h; a merge closes this incident and "
                    "hands its reports to the chosen one",
                ),
                className="note",
            ),
            html.Table(lines, className="grid-table"),
            html.Div(id=MERGE_RESULT, className="action-result"),
        ],
        id=DUPLICATES,
        className="duplicates",
    )


def merge_refusal(user, inc: dict, into: dict, desk: str | None) -> str | None:
    """Why this officer may not merge `inc` into `into` from the dashboard (None: they may
    publish it; the engine decides the rest). Pure."""
    for each in (inc, into):
        refusal = officer_refusal(
            actor=user.name,
            scope=user.scope,
            department=desk or user.acting_department,
            incident_district=each["district"],
            incident_street=each.get("street") or "",
        )
        if refusal:
            return refusal
    if desk is None:
        return "only the district's dispatch desk merges incidents"
    if inc["incident_id"] == into["incident_id"]:
        return "cannot merge an incident into itself"
    if (inc.get("street") or "") != (into.get("street") or ""):
        return "only incidents of one street are merged"
    return None


def register_merge(app, backend, publisher) -> None:
    @app.callback(
        Output(MERGE_RESULT, "children"),
        Input({"type": MERGE_BUTTON, "into": ALL}, "n_clicks"),
        State(ids.ACTION_COMMENT, "value"),
        State("incident-key", "data"),
        prevent_initial_call=True,
    )
    def merge(clicks, comment, incident_id):
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not any(clicks or []):
            return no_update
        user = signed_in()
        if user is None or not user.may_act:  # kiosk, anonymous and secretaries never publish
            return html.Div(L.t("请先登录", "sign in to act"), className="error")
        into_id = str(trigger.get("into") or "")
        try:
            inc = backend.run(ip.incident, incident_id, scope=user.scope)
            into = backend.run(ip.incident, into_id, scope=user.scope) if into_id else None
        except Exception:  # noqa: BLE001
            return html.Div(L.t("数据库不可达", "storage unreachable"), className="error")
        if inc is None or into is None:
            return html.Div(L.t("无权操作该事项", "not in your area"), className="error")
        desk = review_department(user.acting_department, user.scope, inc["district"])
        refusal = merge_refusal(user, inc, into, desk)
        if refusal or desk is None:
            return html.Div(
                [L.t("无权操作该事项：", "not allowed: "), html.Code(refusal or "")],
                className="error",
            )
        event = merge_event(
            incident_id=incident_id,
            into=into_id,
            partitionkey=inc["street"] or inc["district"],
            department=desk,
            actor=user.name,
            comment=comment or "",
            now=dt.datetime.now(dt.UTC),
        )
        if (refused := publish_or_refusal(publisher, event)) is not None:
            return refused
        return html.Div(
            L.t(
                f"已发送「并入 {into_id}」，处理后将出现在时间线中",
                f"merge into {into_id} sent; it appears in the timeline once processed",
            ),
            className="ok",
        )
