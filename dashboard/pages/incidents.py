"""`/incidents`: search and list. Filters (district, street, category, status, severity, time range,
text in title), sorting and paging happen in the cache (dashboard/cache/incident_search.py) or in
ClickHouse (cityops.storage.search_queries.search_incidents);
the browser receives one page of rows. An officer's district scope is applied in the query.
"""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import parse_qs

from dash import Input, Output, State, ctx, dcc, html, no_update

from cityops.dashboard import ids
from cityops.dashboard import labels as L
from cityops.dashboard.auth import current_scope, signed_in
from cityops.dashboard.backend import TZ
from cityops.dashboard.cache.incident_search import search_cached
from cityops.schemas.taxonomy import CATEGORIES
from cityops.storage import search_queries as sq

PAGE_SIZE = 25
RANGES = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "365d": 365 * 86400}


def _options(table: dict) -> list[dict]:
    return [{"label": f"{zh} {en}", "value": key} for key, (zh, en) in table.items()]


def layout(backend, user, search: str) -> html.Div:
    params = {k: v[0] for k, v in parse_qs(search.lstrip("?")).items()}
    districts = [{"label": f"{zh} {en}", "value": code} for code, zh, en in backend.districts]
    # an officer's district (a street officer's: the street's), the filter fixed to it
    home = (user.scope or "")[:6] or None
    if home:
        districts = [d for d in districts if d["value"] == home]
    district = home or params.get("district")
    filters = html.Div(
        [
            dcc.Dropdown(
                id=ids.FILTER_DISTRICT,
                options=districts,
                value=district,
                placeholder="区 / district",
                disabled=bool(user.scope),
            ),
            dcc.Dropdown(
                id=ids.FILTER_STREET,
                options=[
                    o
                    for o in _street_options(backend, district)
                    if len(user.scope or "") != 9 or o["value"] == user.scope
                ],
                value=user.scope if len(user.scope or "") == 9 else params.get("street"),
                placeholder="街道 / street",
            ),
            dcc.Dropdown(
                id=ids.FILTER_CATEGORY,
                options=[
                    {"label": f"{c.name_zh} {c.name_en}", "value": c.code}
                    for c in CATEGORIES.values()
                ],
                value=params.get("category"),
                placeholder="类别 / category",
            ),
            dcc.Dropdown(
                id=ids.FILTER_STATUS,
                options=_options(L.STATUS),
                multi=True,
                value=[s for s in params.get("status", "").split(",") if s in L.STATUS],
                placeholder="状态 / status",
            ),
            dcc.Dropdown(
                id=ids.FILTER_SEVERITY,
                options=[
                    {"label": f"≥ {k} {zh} {en}", "value": k} for k, (zh, en) in L.SEVERITY.items()
                ],
                value=None,
                placeholder="等级 / severity",
            ),
            dcc.Dropdown(
                id=ids.FILTER_RANGE,
                options=[{"label": k, "value": k} for k in RANGES],
                value=params.get("range", "7d"),
                clearable=False,
            ),
            dcc.Input(
                id=ids.FILTER_TEXT,
                type="search",
                debounce=True,
                value=params.get("q", ""),
                placeholder="标题包含… / title contains…",
            ),
            dcc.Dropdown(
                id=ids.SORT_BY,
                options=[{"label": k, "value": k} for k in sq.SORTABLE],
                value="reported_at",
                clearable=False,
            ),
            dcc.Checklist(
                id=ids.SORT_DESC,
                options=[{"label": "↓", "value": "desc"}],
                value=["desc"],
                inline=True,
            ),
        ],
        className="filters",
    )
    return html.Div(
        [
            html.H1(L.t("事项查询", "Incidents")),
            filters,
            html.Div(id=ids.INCIDENT_COUNT, className="count"),
            html.Div(id=ids.INCIDENT_TABLE),
            html.Div(
                [
                    html.Button("‹", id=ids.PAGE_PREV),
                    html.Span(id=ids.PAGE_INFO),
                    html.Button("›", id=ids.PAGE_NEXT),
                ],
                className="pager",
            ),
            dcc.Store(id=ids.PAGE_STATE, data=0),
        ],
        className="incidents-page",
    )


def _street_options(backend, district: str | None) -> list[dict]:
    if not district:
        return []
    return [
        {"label": f"{u.name_zh} {u.code}", "value": u.code}
        for u in backend.registry.children(district)
    ]


def _fmt(ts: int | None) -> str:
    return dt.datetime.fromtimestamp(ts, TZ).strftime("%m-%d %H:%M") if ts else "—"


def table(rows: list[dict], district_names) -> html.Table:
    head = html.Tr(
        [
            html.Th(L.t(zh, en))
            for zh, en in (
                ("编号", "id"),
                ("标题", "title"),
                ("区", "district"),
                ("类别", "category"),
                ("等级", "severity"),
                ("状态", "status"),
                ("层级", "level"),
                ("上报时间", "reported"),
                ("办结时限", "due"),
            )
        ]
    )
    body = []
    for r in rows:
        zh, en = district_names(r["district"])
        body.append(
            html.Tr(
                [
                    html.Td(dcc.Link(r["incident_id"], href=f"/incidents/{r['incident_id']}")),
                    html.Td(r["title"], className="title-cell"),
                    html.Td(L.t(zh, en)),
                    html.Td(L.category(r["category"])),
                    html.Td(
                        L.pair(L.SEVERITY, int(r["severity"])), className=f"sev sev-{r['severity']}"
                    ),
                    html.Td(L.pair(L.STATUS, r["status"])),
                    html.Td(L.pair(L.LEVEL, r["level"])),
                    html.Td(_fmt(r["reported_at"])),
                    html.Td(_fmt(r["resolve_due"])),
                ],
                className="incident-row",
            )
        )
    return html.Table([html.Thead(head), html.Tbody(body)], className="grid-table")


def register(app, backend) -> None:
    @app.callback(
        Output(ids.FILTER_STREET, "options"),
        Input(ids.FILTER_DISTRICT, "value"),
        prevent_initial_call=True,
    )
    def streets(district):
        return _street_options(backend, district)

    @app.callback(
        Output(ids.INCIDENT_TABLE, "children"),
        Output(ids.INCIDENT_COUNT, "children"),
        Output(ids.PAGE_INFO, "children"),
        Output(ids.PAGE_STATE, "data"),
        Input(ids.FILTER_DISTRICT, "value"),
        Input(ids.FILTER_STREET, "value"),
        Input(ids.FILTER_CATEGORY, "value"),
        Input(ids.FILTER_STATUS, "value"),
        Input(ids.FILTER_SEVERITY, "value"),
        Input(ids.FILTER_RANGE, "value"),
        Input(ids.FILTER_TEXT, "value"),
        Input(ids.SORT_BY, "value"),
        Input(ids.SORT_DESC, "value"),
        Input(ids.PAGE_PREV, "n_clicks"),
        Input(ids.PAGE_NEXT, "n_clicks"),
        State(ids.PAGE_STATE, "data"),
    )
    def search(
        district, street, category, statuses, severity, span, text, sort, desc, _p, _n, page
    ):
        if signed_in() is None:
            return html.Div(L.t("请先登录", "sign in first")), "", "", 0
        page = page or 0
        if ctx.triggered_id == ids.PAGE_PREV:
            page = max(0, page - 1)
        elif ctx.triggered_id == ids.PAGE_NEXT:
            page += 1
        else:
            page = 0
        now = int(time.time())
        flt = sq.IncidentFilter(
            since=now - RANGES.get(span or "7d", RANGES["7d"]),
            until=now + 86400,
            district=district or None,
            street=street or None,
            category=category or None,
            statuses=tuple(statuses or ()),
            min_severity=severity or None,
            text=(text or "").strip() or None,
        )
        how = {
            "sort": sort or "reported_at",
            "descending": bool(desc),
            "offset": page * PAGE_SIZE,
            "limit": PAGE_SIZE,
            "scope": current_scope(),
        }
        try:
            # the wall's latest-state cache answers the common searches; SQL the rest
            found = search_cached(backend.incidents, backend.run, flt, now=now, **how)
            total, rows = found or backend.run(sq.search_incidents, flt, **how)
        except Exception as exc:  # noqa: BLE001 - shown to the officer, not a traceback
            app.logger.warning("incident search failed: %s", exc)
            return (
                html.Div(
                    L.t("查询失败：数据库不可达", "search failed: storage unreachable"),
                    className="error",
                ),
                "",
                "",
                no_update,
            )
        pages = max(1, -(-total // PAGE_SIZE))
        if page >= pages:
            page = pages - 1
        count = L.t(f"共 {total:,} 条", f"{total:,} incidents")
        return (table(rows, backend.district_name), count, f"{page + 1} / {pages}", page)
