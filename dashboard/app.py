"""The dashboard's shell: the Flask server with logins and /healthz, the Dash app, the router from
paths to pages, and the language toggle. Pages live in dashboard/pages (one module each) and
register their own callbacks on the app built here; nothing happens at import time.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import dash
from dash import ClientsideFunction, Input, Output, State, dcc, html
from flask import Flask, jsonify

from cityops.dashboard import auth, evidence, ids, probes
from cityops.dashboard import labels as L
from cityops.dashboard.actions import ActionPublisher
from cityops.dashboard.backend import Backend
from cityops.dashboard.pages import (
    claims,
    district,
    incident,
    incidents,
    reports,
    returns,
    supervision,
    wall,
)
from cityops.schemas.topics import Topics
from cityops.storage.client import ping

ASSETS = Path(__file__).parent / "assets"
_INCIDENT = re.compile(r"^/incidents/([A-Za-z0-9._:\-]{1,128})/?$")
_DISTRICT = re.compile(r"^/district/(\d{6})/?$")


def create_app(settings) -> dash.Dash:
    server = Flask("cityops.dashboard")
    auth.install(server, settings)
    probes.install(server, settings)  # /readyz, /metrics (docs/operations.md)
    backend = Backend(settings)
    # the registry's 40,976 micro-grids are summed once at start, not in the first request
    backend.warm()
    evidence.install(server, settings, backend)  # /media/<incident_id>/<name>: evidence photos
    publisher = ActionPublisher(
        settings.kafka, Topics(settings.topic_prefix).events, registry=backend.registry
    )

    @server.route("/healthz")
    def healthz():
        started = time.perf_counter()
        try:
            reachable = backend.run(lambda client, _db: ping(client))
        except Exception:  # noqa: BLE001 - liveness reports, it does not fail
            reachable = False
        return jsonify(
            {
                "status": "ok",
                "clickhouse": reachable,
                "database": backend.db,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            }
        )

    app = dash.Dash(
        "cityops",
        # Dash's hints name only bool or a factory; a Flask app is the documented other choice.
        server=server,  # type: ignore[arg-type]
        assets_folder=str(ASSETS),
        title="城市运行一网统管 · cityops",
        update_title=None,  # type: ignore[arg-type]  # None (documented) turns it off
        suppress_callback_exceptions=True,
        serve_locally=True,
        compress=False,
    )
    app.layout = html.Div(
        [
            dcc.Location(id=ids.URL, refresh=False),
            dcc.Store(id=ids.LANG, storage_type="local", data="zh"),
            html.Button("中 / EN", id=ids.LANG_TOGGLE, className="lang-toggle", n_clicks=0),
            html.Div(id=ids.PAGE, className="page"),
        ],
        id=ids.APP_ROOT,
        className="app lang-zh",
    )

    @app.callback(
        Output(ids.PAGE, "children"),
        Input(ids.URL, "pathname"),
        State(ids.URL, "search"),
        State(ids.LANG, "data"),
    )
    def route(pathname, search, lang):
        return render(backend, pathname or "/", search or "", lang or "zh")

    app.clientside_callback(
        ClientsideFunction("cityops", "toggleLang"),
        Output(ids.LANG, "data"),
        Input(ids.LANG_TOGGLE, "n_clicks"),
        State(ids.LANG, "data"),
    )
    app.clientside_callback(
        ClientsideFunction("cityops", "langClass"),
        Output(ids.APP_ROOT, "className"),
        Input(ids.LANG, "data"),
    )
    app.clientside_callback(
        ClientsideFunction("cityops", "wallClock"),
        Output(ids.CLOCK, "children"),
        Output(ids.FRESHNESS, "children"),
        Output(ids.STALE_BANNER, "children"),
        Output(ids.STALE_BANNER, "className"),
        Input("wall-clock-tick", "n_intervals"),
        Input(ids.REFRESH_STATE, "data"),
        State(ids.LANG, "data"),
        State("wall-config", "data"),
    )

    wall.register(app, backend)
    incidents.register(app, backend)
    incident.register(app, backend, publisher)
    district.register(app, backend)
    supervision.register(app, backend)
    reports.register(app, backend)  # /reports and /reports.csv
    return app


def _nav(user) -> html.Nav:
    where = user.scope if user and user.scope else ""
    scope = f" · {where}" if where else ""
    links = [dcc.Link(L.t("督办看板", "supervision"), href="/supervision")]
    if user is None or user.role != "secretary":
        links = [
            dcc.Link(L.t("总览大屏", "wall"), href="/"),
            dcc.Link(L.t("事项查询", "incidents"), href="/incidents"),
            dcc.Link(L.t("驻地单位认领", "claims"), href="/claims"),
            dcc.Link(L.t("运行报告", "reports"), href="/reports"),
            dcc.Link(L.t("退单审核", "returns"), href="/returns"),
            *links,
        ]
    return html.Nav(
        [
            *links,
            html.Span(f"{user.name} ({user.role}{scope})" if user else "", className="nav-user"),
            html.A(L.t("退出", "sign out"), href="/logout"),
        ],
        id=ids.NAV,
        className="nav",
    )


def render(backend, pathname: str, search: str, lang: str):
    """The page for a path. Kiosk sessions get the wall and nothing else."""
    user = auth.signed_in()
    if user is not None and user.role == "secretary":
        # a secretary's dashboard is their own supervision board, nothing else
        return html.Div([_nav(user), supervision.layout(backend, user, search)], className="desk")
    if pathname in ("/", ""):
        return wall.layout(backend, lang)
    if user is None:
        return html.Div(
            [
                L.t("请先登录。", "Please sign in."),
                html.A(L.t("登录", "sign in"), href=f"/login?next={pathname}"),
            ],
            className="denied",
        )
    match = _INCIDENT.match(pathname)
    if pathname.rstrip("/") == "/incidents":
        body = incidents.layout(backend, user, search)
    elif match:
        body = incident.layout(backend, user, match.group(1))
    elif pathname.rstrip("/") == "/claims":
        body = claims.layout(backend, user, search)
    elif pathname.rstrip("/") == "/reports":
        body = reports.layout(backend, user, search, lang)
    elif pathname.rstrip("/") == "/returns":
        body = returns.layout(backend, user, search)
    elif (m := _DISTRICT.match(pathname)) is not None:
        body = district.layout(backend, user, m.group(1), lang)
    elif pathname.rstrip("/") == "/supervision":
        body = supervision.layout(backend, user, search)
    else:
        body = html.Div(L.t("页面不存在", "page not found"), className="denied")
    return html.Div([_nav(user), body], className="desk")
