"""The wall's scenes (dashboard/scenes.py): the city overview (the main grid), one district in
turn, the supervision board, the sensor board; the pinned scene; figures scaled to the viewport.

Rotation runs in the browser (`cityops.wallScene` in assets/cityops.js, on the clock's 1 s tick);
the server renders a scene only when it comes up (district, sensors) and re-reads the sensor
board on the refresh interval only while it is shown. Scenes are stacked in one box and the
inactive ones hidden with `visibility`, so their plotly graphs keep their size.
"""

from __future__ import annotations

import time

from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from cityops.dashboard import figures, ids, scaling, scenes
from cityops.dashboard import labels as L
from cityops.dashboard import sensor_board as sb
from cityops.dashboard.auth import current_scope, signed_in
from cityops.dashboard.pages.sensor_scene import sensor_scene
from cityops.storage import incident_pages as ip

WALL_FIGURES = (
    (ids.MAP, "map"),
    (ids.CHAIN, "chain"),
    (ids.EVENTS_PER_MINUTE, "epm"),
    (ids.TOP_CATEGORIES, "cats"),
)


def supervision_scene():
    """The supervision scene: counts per level and district, safe for a kiosk session
    (pages/supervision_scene.py); the boards themselves stay on `/supervision`."""
    from cityops.dashboard.pages import supervision_scene as sv  # it imports the board's page

    return sv.scene()


def scene_boxes(main, backend) -> html.Div:
    """The four scenes stacked in one box; `main` is the city overview."""
    names = L.t
    return html.Div(
        [
            html.Div(main, id=ids.scene_box("city"), className="scene active"),
            html.Div(
                html.Div(names("区县轮播", "district in turn"), className="empty"),
                id=ids.scene_box("district"),
                className="scene",
            ),
            html.Div(supervision_scene(), id=ids.scene_box("supervision"), className="scene"),
            html.Div(
                html.Div(names("感知监测", "sensor board"), className="empty"),
                id=ids.scene_box("sensors"),
                className="scene",
            ),
        ],
        className="scenes",
    )


def pin_control(user) -> html.Div:
    """Shown to those who may pin (scenes.may_pin); the callback checks again on the server."""
    if not scenes.may_pin(user):
        return html.Div(id=ids.SCENE_PIN_CONTROL, className="hidden")
    return html.Div(
        [
            dcc.Dropdown(
                id=ids.SCENE_PIN_CHOICE,
                options=[
                    {"label": f"{zh} / {en}", "value": name}
                    for name, (zh, en) in scenes.SCENE_LABELS.items()
                ],
                value="city",
                clearable=False,
                className="pin-choice",
            ),
            html.Button(L.t("固定场景", "pin"), id=ids.SCENE_PIN, n_clicks=0, className="action"),
            html.Button(
                L.t("恢复轮播", "unpin"), id=ids.SCENE_UNPIN, n_clicks=0, className="action"
            ),
            html.Span(id=ids.SCENE_PIN_RESULT, className="pin-result"),
        ],
        id=ids.SCENE_PIN_CONTROL,
        className="pin-control",
    )


def stores(backend, pinned) -> list:
    settings = backend.settings
    config = {
        "scenes": list(scenes.parse_scenes(getattr(settings, "wall_scenes", "") or "")),
        "dwell": max(scenes.MIN_DWELL, float(getattr(settings, "wall_dwell_seconds", 60.0))),
        "districts": len(backend.districts),
    }
    return [
        dcc.Store(id=ids.SCENE_CONFIG, data=config),
        dcc.Store(id=ids.SCENE_PINNED, data={"scene": pinned.scene, "by": pinned.by}),
        dcc.Store(id=ids.SCENE_STATE, data={"scene": "city", "district": 0}),
        dcc.Store(id=ids.VIEWPORT, data=None),
        html.Div(id=ids.SCENE_NAME, className="scene-name"),
    ]


# -- the district scene ---------------------------------------------------------------------------


def street_label(backend, code: str) -> tuple[str, str]:
    """A street's name; the row of incidents with no street is the district's own (区级)."""
    if not code:
        return ("区级（未到街道）", "district level (no street)")
    unit = backend.registry.unit(code)
    return (unit.name_zh, unit.name_en or unit.name_zh) if unit else (code, code)


def district_view(backend, adcode: str, viewport: dict | None, lang: str, *, box=(0.6, 0.72)):
    """The district's figure zoomed to its boundary in its panel (`box`: the panel's share of the
    viewport), and its street rows."""
    unit = backend.registry.unit(adcode)
    streets = backend.run(ip.district_streets, adcode)
    view = backend.incidents.loaded_view(int(time.time()))
    severe = view.severe_open(limit=200, scope=adcode) if view is not None else []
    open_total = sum(s["open"] for s in streets)
    rate = figures.rate_per_10k({adcode: open_total}, {adcode: backend.households.get(adcode, 0)})
    name = unit.name_zh if lang == "zh" else (unit.name_en or unit.name_zh)
    fig = figures.district_figure(
        backend.geojson,
        adcode,
        name,
        rate[adcode],
        [m for m in severe if m["lat"] or m["lon"]],
        backend.registry.point(adcode),
        lang=lang,
    )
    width = (viewport or {}).get("w") or 1920
    height = (viewport or {}).get("h") or 1080
    bounds = scaling.bounds_of(backend.geojson, (adcode,))
    if bounds is not None:
        fitted = scaling.fit_view(bounds, width * box[0], height * box[1])
        fig.update_layout(map={"zoom": fitted["zoom"], "center": fitted["center"]})
    fig.update_layout(font={"size": round(14 * scaling.scale_for(height))})
    return unit, fig, streets


def district_scene(backend, adcode: str, viewport, lang: str) -> list:
    unit, fig, streets = district_view(backend, adcode, viewport, lang)
    rows = [
        html.Tr(
            [
                html.Th(L.t(*h))
                for h in (
                    ("街道", "street"),
                    ("在办", "open"),
                    ("超时", "breached"),
                    ("合计", "all"),
                )
            ]
        )
    ]
    for s in streets[:14]:
        rows.append(
            html.Tr(
                [
                    html.Td(L.t(*street_label(backend, s["street"]))),
                    html.Td(f"{s['open']:,}"),
                    html.Td(f"{s['breached']:,}"),
                    html.Td(f"{s['total']:,}"),
                ]
            )
        )
    return [
        html.H2(L.t(unit.name_zh, unit.name_en or unit.name_zh), className="scene-title"),
        html.Div(
            [
                dcc.Graph(
                    id=ids.SCENE_DISTRICT_MAP,
                    figure=fig,
                    className="graph",
                    config={"displayModeBar": False, "responsive": True},
                ),
                html.Table(rows, id=ids.SCENE_DISTRICT_STREETS, className="grid-table wall-table"),
            ],
            className="scene-district",
        ),
    ]


def register(app, backend, pin: scenes.ScenePin) -> None:
    from cityops.dashboard.pages import supervision_scene

    supervision_scene.register(app, backend)
    rules = sb.thresholds(getattr(backend.settings, "rules_file", None))
    app.clientside_callback(
        "function (tick, pinned, config, state) {"
        " return window.dash_clientside.cityops.wallScene(tick, pinned, config, state); }",
        *[Output(ids.scene_box(name), "className") for name in scenes.SCENES],
        Output(ids.SCENE_STATE, "data"),
        Output(ids.SCENE_NAME, "children"),
        Output(ids.VIEWPORT, "data"),
        Input("wall-clock-tick", "n_intervals"),
        Input(ids.SCENE_PINNED, "data"),
        State(ids.SCENE_CONFIG, "data"),
        State(ids.SCENE_STATE, "data"),
    )

    @app.callback(
        Output(ids.SCENE_PINNED, "data"),
        Input(ids.STACK_PARTS_TICK, "n_intervals"),
        State(ids.SCENE_PINNED, "data"),
    )
    def pinned(_n, held):
        """Every wall follows the pin within 2 s (a file stat; no database)."""
        now = pin.get()
        value = {"scene": now.scene, "by": now.by}
        if held == value:
            raise PreventUpdate  # 204, no body: nothing changed
        return value

    @app.callback(
        Output(ids.SCENE_PIN_RESULT, "children"),
        Input(ids.SCENE_PIN, "n_clicks"),
        Input(ids.SCENE_UNPIN, "n_clicks"),
        State(ids.SCENE_PIN_CHOICE, "value"),
        prevent_initial_call=True,
    )
    def pin_scene(n_pin, n_unpin, choice):
        from dash import ctx

        user = signed_in()
        if not scenes.may_pin(user):
            return L.t("无权固定场景", "not allowed to pin scenes")
        if ctx.triggered_id == ids.SCENE_UNPIN:
            pin.set(None, user.name)
            return L.t("已恢复轮播", "rotation resumed")
        if choice not in scenes.SCENES:
            return L.t("未知场景", "unknown scene")
        pin.set(choice, user.name)
        return L.t(
            f"已固定：{scenes.SCENE_LABELS[choice][0]}", f"pinned: {scenes.SCENE_LABELS[choice][1]}"
        )

    @app.callback(
        Output(ids.scene_box("district"), "children"),
        Input(ids.SCENE_STATE, "data"),
        State(ids.VIEWPORT, "data"),
        State(ids.LANG, "data"),
    )
    def district(state, viewport, lang):
        if not state or state.get("scene") != "district":
            return no_update
        scope = current_scope()
        codes = [code for code, _, _ in backend.districts]
        adcode = scope if scope in codes else codes[int(state.get("district", 0)) % len(codes)]
        try:
            return district_scene(backend, adcode, viewport, lang or "zh")
        except Exception:  # noqa: BLE001 - the scene shows a message, never a traceback
            return html.Div(L.t("数据库不可达", "storage unreachable"), className="empty")

    @app.callback(
        Output(ids.scene_box("sensors"), "children"),
        Input(ids.SCENE_STATE, "data"),
        Input(ids.REFRESH, "n_intervals"),
        State(ids.LANG, "data"),
        State(ids.VIEWPORT, "data"),
    )
    def sensors(state, _n, lang, viewport):
        if not state or state.get("scene") != "sensors":
            return no_update
        try:
            return sensor_scene(backend, rules, int(time.time()), lang or "zh", viewport)
        except Exception:  # noqa: BLE001
            return html.Div(L.t("数据库不可达", "storage unreachable"), className="empty")

    @app.callback(
        *[Output(graph, "figure", allow_duplicate=True) for graph, _ in WALL_FIGURES],
        Input(ids.VIEWPORT, "data"),
        prevent_initial_call=True,
    )
    def scale(viewport):
        """Fonts and the city map's zoom for this screen: sent once per viewport size."""
        if not viewport:
            return (no_update,) * len(WALL_FIGURES)
        factor = scaling.scale_for(viewport.get("h"))
        bounds = scaling.bounds_of(backend.geojson)
        view = None
        if bounds is not None and viewport.get("map_w") and viewport.get("map_h"):
            view = scaling.fit_view(bounds, viewport["map_w"], viewport["map_h"])
        return tuple(
            scaling.font_patch(kind, factor, view if kind == "map" else None)
            for _, kind in WALL_FIGURES
        )
