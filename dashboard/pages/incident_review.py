"""退单审核 on the incident page: while a task's return (city.incident.return.v1) waits for the
district's decision, the returning department and its reason, and two answers published as
city.incident.reassign.v1: 改派 (reassign) to the chosen department, 维持 (uphold) the current
lead. Only the district's dispatch desk decides (`review_department`: a district officer acts as
their desk, a city-wide officer for the incident's district desk); the officer's scope is checked
as for the other actions (`officer_refusal`), and the engine checks again.
"""

from __future__ import annotations

import datetime as dt

from dash import Input, Output, State, ctx, dcc, html, no_update

from cityops.dashboard import ids
from cityops.dashboard import labels as L
from cityops.dashboard.actions import (
    InvalidEvent,
    PublishError,
    officer_refusal,
    review_department,
    review_event,
)
from cityops.dashboard.auth import signed_in
from cityops.schemas.taxonomy import DEPARTMENTS
from cityops.storage import incident_pages as ip


def review_panel(inc: dict, user) -> html.Section | None:
    """退单审核: while a return waits, the reason and the desk's two answers (改派 to the chosen
    department, 维持 the current lead), for an officer who may decide it (review_department)."""
    if not inc.get("returned_by"):
        return None
    may = review_department(user.acting_department, user.scope, inc["district"]) is not None
    handling = sorted(code for code, d in DEPARTMENTS.items() if d.district is None)
    options = [
        {"label": f"{DEPARTMENTS[c].name_zh} / {DEPARTMENTS[c].name_en}", "value": c}
        for c in handling
        if c != inc["lead_department"]
    ]
    controls = (
        [
            dcc.Dropdown(id=ids.RETURN_TO, options=options, placeholder="改派至 / reassign to"),
            html.Button(
                L.t("改派", "reassign"), id=ids.RETURN_REASSIGN, className="action", n_clicks=0
            ),
            html.Button(
                L.t("维持", "uphold"), id=ids.RETURN_UPHOLD, className="action", n_clicks=0
            ),
        ]
        if may
        else [html.Div(L.t("仅调度台可审核", "only the dispatch desk decides"), className="denied")]
    )
    return html.Section(
        [
            html.H2(L.t("退单审核", "return review")),
            html.Div(
                [
                    L.t("退单部门：", "returned by: "),
                    L.department(inc["returned_by"]),
                    html.Span(f" ({inc['returns']})", className="return-count"),
                ]
            ),
            html.Div(
                [L.t("理由：", "reason: "), html.Q(inc["return_reason"], id=ids.RETURN_REASON)]
            ),
            html.Div(controls, className="action-buttons"),
            html.Div(id=ids.RETURN_RESULT, className="action-result"),
        ],
        id=ids.RETURN_REVIEW,
        className="actions return-review",
    )


def register_review(app, backend, publisher) -> None:
    @app.callback(
        Output(ids.RETURN_RESULT, "children"),
        Input(ids.RETURN_REASSIGN, "n_clicks"),
        Input(ids.RETURN_UPHOLD, "n_clicks"),
        State(ids.RETURN_TO, "value"),
        State(ids.ACTION_COMMENT, "value"),
        State("incident-key", "data"),
        prevent_initial_call=True,
    )
    def review(reassign_clicks, uphold_clicks, to_department, comment, incident_id):
        if ctx.triggered_id not in (ids.RETURN_REASSIGN, ids.RETURN_UPHOLD):
            return no_update
        if not (reassign_clicks or uphold_clicks):
            return no_update
        user = signed_in()
        if user is None or not user.may_act:  # kiosk, anonymous and secretaries never publish
            return html.Div(L.t("请先登录", "sign in to act"), className="error")
        try:
            inc = backend.run(ip.incident, incident_id, scope=user.scope)
        except Exception:  # noqa: BLE001
            return html.Div(L.t("数据库不可达", "storage unreachable"), className="error")
        if inc is None:
            return html.Div(L.t("无权操作该事项", "not in your area"), className="error")
        desk = review_department(user.acting_department, user.scope, inc["district"])
        refusal = officer_refusal(
            actor=user.name,
            scope=user.scope,
            department=desk or user.acting_department,
            incident_district=inc["district"],
            incident_street=inc.get("street") or "",
        ) or (None if desk else "only the district's dispatch desk decides a return")
        if refusal:
            return html.Div(
                [L.t("无权操作该事项：", "not allowed: "), html.Code(refusal)], className="error"
            )
        upheld = ctx.triggered_id == ids.RETURN_UPHOLD
        target = inc["lead_department"] if upheld else to_department
        if not target:
            return html.Div(L.t("请选择改派部门", "choose a department"), className="error")
        event = review_event(
            incident_id=incident_id,
            partitionkey=inc["street"] or inc["district"],
            department=desk,
            actor=user.name,
            to_department=target,
            comment=comment or "",
            now=dt.datetime.now(dt.UTC),
            upheld=upheld,
        )
        if (refused := publish_or_refusal(publisher, event)) is not None:
            return refused
        return sent(
            "维持" if upheld else f"改派至 {target}",
            "upheld" if upheld else f"reassigned to {target}",
        )


def publish_or_refusal(publisher, event) -> html.Div | None:
    """Publishes an officer's action event; None when sent, else the message shown instead
    (invalid: refused like any department's invalid event, nothing sent; or the send failed)."""
    try:
        publisher.publish(event)
    except InvalidEvent as exc:
        return html.Div(
            [L.t("操作无效，未发送：", "invalid action, not sent: "), html.Code(str(exc))],
            className="error",
        )
    except PublishError as exc:
        return html.Div(
            [L.t("发送失败：", "publish failed: "), html.Code(str(exc))], className="error"
        )
    return None


def sent(zh: str, en: str) -> html.Div:
    return html.Div(
        L.t(
            f"已发送「{zh}」，处理后将出现在时间线中",
            f"{en} sent; it appears in the timeline once processed",
        ),
        className="ok",
    )
