"""`/supervision`: the boards of 书记督办 (CONTRACT §11 `supervision`) — per level (district,
street, community), overdue first, each matter with what was tried (its transitions, the
departments' tasks, the callbacks). A secretary sees the board of their own unit only (the
unit's level, the unit's matters: both in the query); an officer or admin the boards of their
scope. Also the wall's tile `kpi-supervised`: supervised matters and the repeat complaint rate
against the same period a year before (its own callback, its query cached for a minute).
"""

from __future__ import annotations

import datetime as dt
import threading
import time

from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from cityops.dashboard import ids
from cityops.dashboard import labels as L
from cityops.dashboard.auth import current_scope
from cityops.dashboard.backend import TZ
from cityops.storage import incident_pages as ip
from cityops.storage import supervision_queries as sq

BOARD = "supervision-board"
TILE = "kpi-supervised"
TILE_SECONDS = 60.0  # the tile's query runs at most once a minute per scope
TILE_DIGEST = "kpi-supervised-digest"
HISTORY_LIMIT = 100  # matters whose history is read (the first on the board)
LEVELS = {
    "district": ("区委书记督办", "district secretary"),
    "street": ("街道书记督办", "street secretary"),
    "community": ("社区书记督办", "community secretary"),
}
TRIED = {  # transition kinds shown as what was tried
    "dispatched": ("派遣", "dispatched"),
    "accepted": ("受理", "accepted"),
    "escalated": ("提级", "escalated"),
    "sla_breached": ("超时", "deadline missed"),
    "returned": ("退单", "returned"),
    "reassigned": ("改派", "reassigned"),
    "return_upheld": ("维持", "return not upheld"),
    "resolved": ("办结", "resolved"),
    "closed": ("结案", "closed"),
    "auto_closed": ("自动结案", "auto-closed"),
    "reopened": ("重新办理", "reopened"),
    "repeat_linked": ("重复投诉", "repeat complaint"),
    "callback_overdue": ("回访超期", "callback overdue"),
    "supervised": ("书记督办", "supervised"),
    "assist_requested": ("联合处置", "joint handling"),
    "merged": ("并单", "merged into another"),
    "merged_from": ("并入", "duplicate merged in"),
}


def _fmt(ts: int | None) -> str:
    return dt.datetime.fromtimestamp(ts, TZ).strftime("%Y-%m-%d %H:%M") if ts else "—"


def board_for(user) -> tuple[str | None, str | None]:
    """(scope, level) of the boards this user sees: a secretary their unit at the unit's level;
    an officer their street or district, an admin the city, every level. Pure."""
    if user.role == "secretary":
        return user.unit or "-", sq.secretary_level(user.unit or "")
    return user.scope, None


def _history(steps: list[dict], tasks: list[dict]) -> html.Details:
    tried = [s for s in steps if s["kind"] in TRIED]
    callbacks = [t for t in tasks if t["role"] == "callback"]
    handling = [t for t in tasks if t["role"] != "callback"]
    return html.Details(
        [
            html.Summary(L.t("处置经过", "what was tried")),
            html.Ol(
                [
                    html.Li(
                        [
                            html.Span(_fmt(s["time"]), className="tl-time"),
                            html.Span(L.pair(TRIED, s["kind"]), className="tl-kind"),
                            html.Span(L.department(s["department"]) if s["department"] else ""),
                            html.Span(s["reason"], className="tl-reason"),
                        ]
                    )
                    for s in tried
                ],
                className="sv-steps",
            ),
            html.Div(
                [L.t("承办部门：", "departments: ")]
                + [
                    html.Span(
                        [
                            L.department(t["department"]),
                            " ",
                            L.pair(L.ROLE, t["role"]),
                            " ",
                            L.pair(L.TASK_STATUS, t["status"]),
                        ],  # fmt: skip
                        className="sv-task",
                    )
                    for t in handling
                ],
                className="sv-tasks",
            ),
            html.Div(
                [L.t("回访：", "callbacks: ")]
                + [
                    html.Span(
                        [
                            L.department(t["department"]),
                            " ",
                            L.pair(L.TASK_STATUS, t["status"]),
                            " ",
                            _fmt(t["done_at"]),
                        ],  # fmt: skip
                        className="sv-callback",
                    )
                    for t in callbacks
                ]
                + ([] if callbacks else [L.t("无", "none")]),
                className="sv-callbacks",
            ),
        ],
        className="sv-history",
    )


def _section(level: str, rows: list[dict], history: dict, tasks: dict) -> html.Section:
    head = html.Tr(
        [
            html.Th(L.t(*h))
            for h in (
                ("事项", "matter"),
                ("状态", "status"),
                ("时限", "due"),
                ("重办", "reopened"),
                ("未解决回访", "unsolved callbacks"),
                ("重复投诉", "repeat complaints"),
                ("牵头部门", "lead"),
                ("处置经过", "history"),
            )
        ]
    )
    body = [
        html.Tr(
            [
                html.Td(
                    html.A(r["title"] or r["incident_id"], href=f"/incidents/{r['incident_id']}")
                ),
                html.Td(
                    [L.pair(L.STATUS, r["status"])]
                    + (
                        [html.Span(L.t(" 超期", " overdue"), className="sv-overdue")]
                        if r["overdue"]
                        else []
                    )
                ),
                html.Td(_fmt(r["resolve_due"])),
                html.Td(str(r["reopened"])),
                html.Td(str(r["unsolved"])),
                html.Td(str(r["repeat_count"])),
                html.Td(L.department(r["lead_department"])),
                html.Td(
                    _history(history.get(r["incident_id"], []), tasks.get(r["incident_id"], []))
                ),
            ],
            id=f"sv-{r['incident_id']}",
            className="sv-row overdue" if r["overdue"] else "sv-row",
        )
        for r in rows
    ]
    return html.Section(
        [
            html.H2([L.t(*LEVELS[level]), f" ({len(rows)})"]),
            html.Table([head, *body], className="table sv-table")
            if rows
            else html.Div(L.t("暂无督办事项", "nothing under supervision"), className="empty"),
        ],
        id=f"supervision-{level}",
        className="panel sv-level",
    )


def layout(backend, user, search: str = "") -> html.Div:
    now = int(time.time())
    try:
        scope, level = board_for(user)
        rows = backend.run(sq.board, now=now, scope=scope, level=level)
        shown = tuple(r["incident_id"] for r in rows[:HISTORY_LIMIT])
        history = backend.run(sq.history, shown) if shown else {}
        tasks: dict[str, list[dict]] = {}
        for t in backend.run(ip.tasks_of, shown) if shown else []:
            tasks.setdefault(t["incident_id"], []).append(t)
    except ValueError:
        return html.Div(L.t("无督办范围", "no supervision scope"), className="denied")
    except Exception:  # noqa: BLE001 - shown as a message, not a traceback
        return html.Div(L.t("数据库不可达", "storage unreachable"), className="error")
    levels = [level] if level else list(sq.LEVEL_ORDER)
    return html.Div(
        [html.H1(L.t("书记办工单 · 督办看板", "Party-secretary supervision"))]
        + [
            _section(lv, [r for r in rows if r["supervision"] == lv], history, tasks)
            for lv in levels
        ],
        id=BOARD,
        className="supervision",
    )


# -- the wall's tile ----------------------------------------------------------------------------
def tile() -> html.Div:
    return html.Div(
        [
            html.Div(L.t("书记督办", "supervised"), className="kpi-label"),
            html.Div("—", id=ids.kpi_value(TILE), className="kpi-value"),
            html.Div("", id=ids.kpi_delta(TILE), className="kpi-delta flat"),
            dcc.Store(id=TILE_DIGEST),  # what this page shows: unchanged data answers nothing
        ],
        id=TILE,
        className="kpi",
    )


def tile_texts(data: dict) -> tuple[str, object, str]:
    """(value, delta, delta class) of the tile: open supervised matters; the repeat complaint
    rate of the last 30 days against the same days a year before. Pure."""
    now, ago = data.get("repeat_rate"), data.get("repeat_rate_year_ago")

    def pct(r: float | None) -> str:
        return "—" if r is None else f"{r:.1%}"

    trend = "flat"
    if now is not None and ago is not None and now != ago:
        trend = "up bad" if now > ago else "down good"
    delta = L.t(f"重复投诉率 {pct(now)}（去年同期 {pct(ago)}）",
                f"repeat complaints {pct(now)} (a year ago {pct(ago)})")  # fmt: skip
    return str(data.get("supervised", 0)), delta, f"kpi-delta {trend}"


def tile_digest(data: dict) -> str:
    """What the tile's texts are made of, as a short key (equal data, equal key). Pure."""
    keys = ("supervised", "repeat_rate", "repeat_rate_year_ago")
    return "|".join(repr(data.get(k)) for k in keys)


def register(app, backend) -> None:
    cache: dict[str | None, tuple[float, dict]] = {}
    lock = threading.Lock()

    @app.callback(
        Output(ids.kpi_value(TILE), "children"),
        Output(ids.kpi_delta(TILE), "children"),
        Output(ids.kpi_delta(TILE), "className"),
        Output(TILE_DIGEST, "data"),
        Input(ids.REFRESH, "n_intervals"),
        State(TILE_DIGEST, "data"),
    )
    def supervised_tile(_n, shown):
        scope = current_scope()
        now = time.time()
        with lock:
            hit = cache.get(scope)
        if hit is None or now - hit[0] > TILE_SECONDS:
            try:
                data = backend.run(sq.wall_tile, now=int(now), scope=scope)
            except Exception:  # noqa: BLE001 - the data refresh reports an unreachable database
                return "—", "", "kpi-delta flat", None
            with lock:
                cache[scope] = (now, data)
            hit = (now, data)
        digest = tile_digest(hit[1])
        if digest == shown:  # the page shows these numbers already: answer nothing (204)
            raise PreventUpdate
        return (*tile_texts(hit[1]), digest)
