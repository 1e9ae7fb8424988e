"""Warning periods on the wall: the form a signed-in officer or admin adds one with (a
`city.annotation.v1` event built, validated like every event, stored in `annotations`), and the
shading of the events-per-minute chart, patched only when the periods or the minute change."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid

from dash import Input, Output, Patch, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from cityops.dashboard import annotations as an
from cityops.dashboard import figures, ids
from cityops.dashboard import labels as L
from cityops.dashboard.auth import current_scope, signed_in
from cityops.schemas.annotations import KINDS, annotation_event, validate_annotation
from cityops.schemas.event_types import InvalidEvent
from cityops.storage import annotations as store

MAX_HOURS = 24 * 31


def form(backend, user) -> html.Div:
    """Shown to signed-in users; the callback checks again on the server."""
    if user is None:
        return html.Div(id=ids.ANNOTATE_FORM, className="hidden")
    districts = [{"label": "全市 / whole city", "value": ""}] + [
        {"label": f"{zh} / {en}", "value": code} for code, zh, en in backend.districts
    ]
    return html.Div(
        [
            dcc.Dropdown(id=ids.ANNOTATE_KIND, className="pin-choice", clearable=False,
                         value="weather_alert",
                         options=[{"label": f"{zh} / {en}", "value": k}
                                  for k, (zh, en) in KINDS.items()]),
            dcc.Input(id=ids.ANNOTATE_LABEL, type="text", maxLength=200,
                      placeholder="暴雨蓝色预警 / rainstorm alert"),
            dcc.Input(id=ids.ANNOTATE_HOURS, type="number", min=0.25, max=MAX_HOURS, value=3),
            dcc.Dropdown(id=ids.ANNOTATE_DISTRICT, className="pin-choice", clearable=False,
                         options=districts, value=user.scope or ""),
            html.Button(L.t("添加标注", "annotate"), id=ids.ANNOTATE_ADD, n_clicks=0,
                        className="action"),
            html.Span(id=ids.ANNOTATE_RESULT, className="pin-result"),
        ],
        id=ids.ANNOTATE_FORM,
        className="annotate-form",
    )  # fmt: skip


def add(backend, user, kind, label, hours, district, now: float) -> tuple[str, str]:
    """Validate and store one annotation; (zh, en) of the outcome."""
    district = district or None
    if (why := an.refusal(user, district)) is not None:
        return why
    try:
        hours = float(hours)
    except (TypeError, ValueError):
        return ("时长无效", "invalid duration")
    if not 0 < hours <= MAX_HOURS:
        return ("时长无效", "invalid duration")
    start = dt.datetime.fromtimestamp(now, dt.UTC).replace(microsecond=0)
    data = {"start": start.isoformat(), "end": (start + dt.timedelta(hours=hours)).isoformat(),
            "label": str(label or ""), "kind": str(kind or "")}  # fmt: skip
    if district:
        data["district"] = district
    raw = annotation_event(event_id=f"annotation-{uuid.uuid4().hex}",
                           department=user.acting_department, now=start, data=data)  # fmt: skip
    try:
        envelope, checked = validate_annotation(raw, backend.registry)
    except InvalidEvent as exc:
        return (f"无效：{exc}", f"invalid: {exc}")
    row = {
        "id": envelope.id, "department": user.acting_department, "actor": user.name,
        "kind": checked.kind, "label": checked.label, "district": checked.district or "",
        "start": checked.start.replace(tzinfo=None), "end": checked.end.replace(tzinfo=None),
        "created_at": start.replace(tzinfo=None),
    }  # fmt: skip
    backend.run(store.insert_annotation, row)
    return ("已添加标注", "annotation added")


def register(app, backend) -> None:
    cache = an.AnnotationCache(backend, store.annotations_overlapping)

    @app.callback(
        Output(ids.ANNOTATE_RESULT, "children"),
        Input(ids.ANNOTATE_ADD, "n_clicks"),
        State(ids.ANNOTATE_KIND, "value"),
        State(ids.ANNOTATE_LABEL, "value"),
        State(ids.ANNOTATE_HOURS, "value"),
        State(ids.ANNOTATE_DISTRICT, "value"),
        prevent_initial_call=True,
    )
    def annotate(_n, kind, label, hours, district):
        try:
            outcome = add(backend, signed_in(), kind, label, hours, district, time.time())
        except Exception:  # noqa: BLE001 - shown as a message, never a traceback
            outcome = ("数据库不可达", "storage unreachable")
        cache.forget()
        return L.t(*outcome)

    @app.callback(
        Output(ids.EVENTS_PER_MINUTE, "figure", allow_duplicate=True),
        Output(ids.ANNOTATE_DIGEST, "data"),
        Input(ids.REFRESH, "n_intervals"),
        State(ids.ANNOTATE_DIGEST, "data"),
        State(ids.LANG, "data"),
        prevent_initial_call=True,
    )
    def shade(_n, held, lang):
        now = int(time.time())
        try:
            rows = cache.get(now, current_scope())
        except Exception:  # noqa: BLE001 - the data refresh reports an unreachable database
            return no_update, no_update
        minutes = figures.minute_axis(now)
        key = [lang, minutes[0] if rows else None, rows]
        digest = hashlib.blake2b(repr(key).encode(), digest_size=8).hexdigest()
        if digest == held:
            raise PreventUpdate  # answers 204 with no body (no_update twice still sends JSON)
        patch = Patch()
        drawn = an.shading(rows, minutes, lang or "zh")
        patch["layout"]["shapes"] = drawn["shapes"]
        patch["layout"]["annotations"] = drawn["annotations"]
        return patch, digest
