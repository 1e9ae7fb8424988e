"""`/district/<adcode>`: one district — its map with severe open incidents, and open, breached and
all incidents per street, each linking to the filtered incident list, with the street's share of
matters kept in the grid (小事不出网格, storage/measures.py). A street officer sees their street."""

from __future__ import annotations

import time

from dash import Input, Output, State, dcc, html, no_update

from cityops.dashboard import figures, ids, scaling
from cityops.dashboard import labels as L
from cityops.storage import incident_pages as ip
from cityops.storage import supervision_queries as sq
from cityops.storage import wall_queries as wq

# 小事不出网格: the share of matters done at grid level, of the matters reported in these days
GRID_SHARE_DAYS = 30


def layout(backend, user, adcode: str, lang: str = "zh") -> html.Div:
    unit = backend.registry.unit(adcode)
    # an officer of the district, or of one of its streets (who sees that street only)
    if unit is None or unit.level != "district" or not (user.scope or adcode).startswith(adcode):
        return html.Div(
            L.t("无此区或不在您的辖区", "no such district in your area"), className="denied"
        )
    try:
        # the street counts (SQL) read while the markers come from the wall's latest-state
        # cache when a wall has loaded it (its delta read included), else from SQL
        scope = user.scope or adcode
        streets = backend.pool.submit(backend.run, ip.district_streets, adcode)
        since = int(time.time()) - GRID_SHARE_DAYS * 86400
        kept = backend.pool.submit(backend.run, sq.grid_share, since=since, scope=scope)
        view = backend.incidents.loaded_view(int(time.time()))
        if view is not None:
            severe = view.severe_open(limit=200, scope=scope)
        else:
            severe = backend.run(wq.severe_open, limit=200, scope=scope)
        # a street officer sees their own street's row only; a district scope keeps every row,
        # the district-level one (no street) included
        streets = [
            s
            for s in streets.result()
            if len(scope) <= len(adcode) or s["street"].startswith(scope)
        ]
        share = {k["street"]: k["grid_share"] for k in kept.result()}
    except Exception:  # noqa: BLE001 - shown as a message, not a traceback
        return html.Div(L.t("数据库不可达", "storage unreachable"), className="error")
    names = {u.code: u for u in backend.registry.children(adcode)}
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
    rows = [
        html.Tr(
            [
                html.Th(L.t(*h))
                for h in (
                    ("街道", "street"),
                    ("在办", "open"),
                    ("超时", "breached"),
                    ("合计", "all"),
                    ("小事不出网格", "kept in the grid"),
                )
            ]
        )
    ]
    for s in streets:
        street = names.get(s["street"])
        if not s["street"]:
            label = L.t("区级（未到街道）", "district level (no street)")
        else:
            label = L.t(street.name_zh, street.name_en or street.name_zh) if street else s["street"]
        rows.append(
            html.Tr(
                [
                    html.Td(
                        dcc.Link(label, href=f"/incidents?district={adcode}&street={s['street']}")
                    ),
                    html.Td(f"{s['open']:,}"),
                    html.Td(f"{s['breached']:,}"),
                    html.Td(f"{s['total']:,}"),
                    html.Td(_pct(share.get(s["street"]))),
                ]
            )
        )
    return html.Div(
        [
            html.H1(L.t(unit.name_zh, unit.name_en or unit.name_zh)),
            html.Div(
                [
                    dcc.Graph(
                        id=ids.DISTRICT_MAP,
                        figure=fig,
                        config={"displayModeBar": False},
                        className="district-map",
                    ),
                    html.Table(rows, id=ids.DISTRICT_STREETS, className="grid-table"),
                ],
                className="district-body",
            ),
            # the map is fitted to the district once the browser knows the map's size
            dcc.Store(id=ids.DISTRICT_CODE, data=adcode),
            dcc.Interval(id=ids.DISTRICT_FIT_TICK, interval=400, max_intervals=1),
            dcc.Store(id=ids.DISTRICT_VIEWPORT),
        ],
        className="district-page",
    )


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"


def register(app, backend) -> None:
    """The page is rendered whole by the router; its map is then fitted to the district in the
    panel the browser measured (the zoom that fills a 1080p panel is a third of a 4K one)."""
    app.clientside_callback(
        "function (n) { const m = document.getElementById('" + ids.DISTRICT_MAP + "');"
        " return m ? {w: m.clientWidth, h: m.clientHeight, vh: window.innerHeight}"
        " : window.dash_clientside.no_update; }",
        Output(ids.DISTRICT_VIEWPORT, "data"),
        Input(ids.DISTRICT_FIT_TICK, "n_intervals"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(ids.DISTRICT_MAP, "figure"),
        Input(ids.DISTRICT_VIEWPORT, "data"),
        State(ids.DISTRICT_CODE, "data"),
        prevent_initial_call=True,
    )
    def fit(viewport, adcode):
        bounds = scaling.bounds_of(backend.geojson, (str(adcode),))
        if not viewport or bounds is None:
            return no_update
        view = scaling.fit_view(bounds, viewport.get("w") or 0, viewport.get("h") or 0)
        patch = scaling.font_patch("map", scaling.scale_for(viewport.get("vh")), view)
        return patch
