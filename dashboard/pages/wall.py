"""The wall display (`/`): header with freshness, the eight KPI tiles, the city map, the chain of
levels, events per minute, top categories, the joint-handling board, alerts and the ticker.

One server callback refreshes everything on the interval. While it runs the interval is disabled
(`running=`), so a slow refresh skips ticks instead of queueing them. Figures are patched, panels
are re-sent only when their content changed (a digest per panel lives in the browser), and the
banner/clock are drawn client-side from the last successful refresh time, so the wall turns red
even when the dashboard server itself stops answering.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC

from dash import Input, Output, State, dcc, html, no_update

from cityops.dashboard import figures, ids, kpis, panels, scenes
from cityops.dashboard import labels as L
from cityops.dashboard.auth import current_scope, signed_in
from cityops.dashboard.backend import TZ
from cityops.dashboard.feeds import feed_label
from cityops.dashboard.pages import supervision, wall_annotations, wall_scenes
from cityops.storage import event_queries as eq
from cityops.storage import incident_pages as ip
from cityops.storage.feed_states import silent_feeds

KPI_LABELS = {
    ids.KPI_EVENTS_TODAY: ("今日事件", "events today"),
    ids.KPI_OPEN: ("在办事项", "open incidents"),
    ids.KPI_JOINT: ("联合处置", "joint handling"),
    ids.KPI_SLA_BREACHED: ("超时事项", "SLA breached"),
    ids.KPI_ESCALATED: ("提级处置", "escalated"),
    ids.KPI_CLOSURE_RATE: ("办结率", "closure rate"),
    ids.KPI_RESOLUTION_RATE: ("实际解决率", "actual resolution"),
    ids.KPI_REPEAT_RATE: ("重复投诉率", "repeat complaints"),
}
PANELS = ("map", "chain", "epm", "cats", "joint", "ticker", "alerts", "share")


def _panel(title: tuple[str, str], body, cls: str = "") -> html.Section:
    return html.Section([html.H2(L.t(*title)), body], className=f"panel {cls}")


def _graph(graph_id: str, figure) -> dcc.Graph:
    return dcc.Graph(
        id=graph_id,
        figure=figure,
        className="graph",
        config={"displayModeBar": False, "staticPlot": False, "responsive": True},
        responsive=True,
    )


def layout(backend, lang: str = "zh") -> html.Div:
    now = int(time.time())
    empty_rates = dict.fromkeys(backend.households, 0.0)
    tiles = [
        html.Div(
            [
                html.Div(L.t(*KPI_LABELS[kpi]), className="kpi-label"),
                html.Div("—", id=ids.kpi_value(kpi), className="kpi-value"),
                html.Div("", id=ids.kpi_delta(kpi), className="kpi-delta flat"),
            ],
            id=kpi,
            className="kpi",
        )
        for kpi in ids.KPIS
    ]
    tiles.append(supervision.tile())  # 书记督办: its own callback (pages/supervision.py)
    header = html.Header(
        [
            html.Div(
                [
                    html.Span("南京市城市运行一网统管", className="zh"),
                    html.Span("Nanjing City Operations Centre", className="en"),
                ],
                className="title",
            ),
            html.Div(id=ids.FRESHNESS, className="freshness"),
            html.Div(id=ids.CLOCK, className="clock"),
        ],
        className="wall-header",
    )
    return html.Div(
        [
            header,
            html.Div(id=ids.STALE_BANNER, className="stale-banner hidden"),
            html.Div(id=ids.STACK_PARTS, className="stale-banner parts-banner hidden"),
            html.Div(id=ids.FEEDS_SILENT, className="stale-banner feeds-banner hidden"),
            html.Div(tiles, className="kpis"),
            wall_scenes.scene_boxes(_main(backend, lang, now, empty_rates), backend),
            html.Div(
                [wall_scenes.pin_control(signed_in()), wall_annotations.form(backend, signed_in())],
                className="wall-controls",
            ),
            dcc.Store(id=ids.ANNOTATE_DIGEST, data=None),
            *wall_scenes.stores(backend, scenes.ScenePin(backend.settings.home).get()),
            dcc.Interval(id=ids.REFRESH, interval=int(backend.settings.refresh_seconds * 1000)),
            dcc.Interval(id="wall-clock-tick", interval=1000),
            dcc.Interval(id=ids.STACK_PARTS_TICK, interval=2000),
            dcc.Store(id=ids.REFRESH_STATE, data={"ok_at": None, "reason": "loading"}),
            dcc.Store(id="wall-digests", data={}),
            dcc.Store(id="wall-config", data={"stale": backend.settings.stale_seconds}),
        ],
        id=ids.WALL_ROOT,
        className="wall",
    )


def _main(backend, lang: str, now: int, empty_rates: dict) -> html.Div:
    """The city overview: map, chain, charts, joint board, alerts, ticker."""
    return html.Div(
        [
            _panel(
                ("各区在办事项（每万户）", "open incidents per 10,000 households"),
                _graph(
                    ids.MAP,
                    figures.map_figure(
                        backend.geojson, backend.districts, empty_rates, [], lang=lang
                    ),
                ),
                "p-map",
            ),
            html.Div(
                [
                    _panel(
                        ("层级处置链", "incidents by level"),
                        html.Div(
                            [
                                _graph(ids.CHAIN, figures.chain_figure({}, lang=lang)),
                                html.Div(id=ids.CHAIN_SHARE, className="chain-share"),
                            ]
                        ),
                        "p-chain",
                    ),
                    _panel(
                        (
                            "近一小时每分钟事件（按渠道）",
                            "events per minute, last hour, by channel",
                        ),
                        _graph(
                            ids.EVENTS_PER_MINUTE,
                            figures.events_per_minute_figure([], now, TZ, lang=lang),
                        ),
                        "p-epm",
                    ),
                    _panel(
                        ("今日高发类别", "top categories today"),
                        _graph(ids.TOP_CATEGORIES, figures.top_categories_figure([], lang=lang)),
                        "p-cats",
                    ),
                ],
                className="col col-mid",
            ),
            html.Div(
                [
                    _panel(
                        ("联合处置看板", "joint handling"),
                        html.Div(id=ids.JOINT_BOARD),
                        "p-joint",
                    ),
                    _panel(("紧急告警", "alerts"), html.Div(id=ids.ALERTS), "p-alerts"),
                    _panel(("实时动态", "live feed"), html.Div(id=ids.TICKER), "p-ticker"),
                ],
                className="col col-right",
            ),
        ],
        className="wall-main",
    )


def snapshot(backend, scope: str | None, now: int) -> dict:
    """Everything one refresh shows. The incident counters and lists come from the latest-state
    cache (one delta read per refresh, dashboard/cache/snapshot.py), the event counts and events
    per minute from the per-hour cache (dashboard/cache/event_hours.py); the other event queries
    run beside them in parallel (each pool thread has its own ClickHouse connection)."""
    midnight = int(_local_midnight(now))
    calls = {
        "fresh": (eq.freshness, {"now": now}),
        "events_feed": (eq.latest_events, {"since": now - 3600, "now": now}),
        "transitions": (eq.latest_transitions, {"since": now - 3600, "now": now}),
    }
    cache = backend.pool.submit(backend.incidents.refresh, now)
    hours = backend.pool.submit(backend.events.refresh, today_start=midnight, now=now)
    futures = {
        name: backend.pool.submit(backend.run, fn, scope=scope, **kw)
        for name, (fn, kw) in calls.items()
    }
    data = {name: future.result() for name, future in futures.items()}
    # events today and the top categories: whole hours from the per-hour cache
    events = hours.result()
    data["events"] = events.event_counts(today_start=midnight, now=now, scope=scope)
    data["cats"] = events.top_categories(since=midnight, scope=scope)
    data["epm"] = events.events_per_minute(now=now, scope=scope)
    view = cache.result()
    data["counters"] = view.counters(scope)
    data["severe"] = view.severe_open(limit=200, scope=scope)
    data["joint"] = view.joint_open(limit=6, scope=scope)
    data["tasks"] = backend.run(ip.tasks_of, tuple(i["incident_id"] for i in data["joint"]))
    return data


def _local_midnight(now: int) -> float:
    import datetime as dt

    local = dt.datetime.fromtimestamp(now, TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def _digest(value) -> str:
    return hashlib.blake2b(
        json.dumps(value, sort_keys=True, default=str).encode(), digest_size=8
    ).hexdigest()


def register(app, backend) -> None:
    from cityops.dashboard.health import StackHealth, banner_texts

    health = StackHealth(backend.settings)
    wall_scenes.register(app, backend, scenes.ScenePin(backend.settings.home))
    wall_annotations.register(app, backend)

    @app.callback(
        Output(ids.STACK_PARTS, "children"),
        Output(ids.STACK_PARTS, "className"),
        Input(ids.STACK_PARTS_TICK, "n_intervals"),
    )
    def stack_parts(_n):
        """Its own callback and interval: it answers while a data refresh waits on ClickHouse."""
        zh, en = banner_texts(health.parts())
        if not zh:
            return "", "stale-banner parts-banner hidden"
        return L.t(zh, en), "stale-banner parts-banner"

    @app.callback(
        Output(ids.FEEDS_SILENT, "children"),
        Output(ids.FEEDS_SILENT, "className"),
        Input(ids.REFRESH, "n_intervals"),
    )
    def feeds_silent(_n):
        """Feeds silent now (early warning), each with the local time it went quiet."""
        try:
            silent = backend.run(silent_feeds)
        except Exception:  # noqa: BLE001 - the data refresh reports an unreachable database
            return no_update, no_update
        if not silent:
            return "", "stale-banner feeds-banner hidden"
        return feeds_banner(silent), "stale-banner feeds-banner"

    kpi_outputs = []
    for kpi in ids.KPIS:
        kpi_outputs += [
            Output(ids.kpi_value(kpi), "children"),
            Output(ids.kpi_delta(kpi), "children"),
            Output(ids.kpi_delta(kpi), "className"),
        ]

    @app.callback(
        *kpi_outputs,
        Output(ids.MAP, "figure"),
        Output(ids.CHAIN, "figure"),
        Output(ids.CHAIN_SHARE, "children"),
        Output(ids.EVENTS_PER_MINUTE, "figure"),
        Output(ids.TOP_CATEGORIES, "figure"),
        Output(ids.JOINT_BOARD, "children"),
        Output(ids.TICKER, "children"),
        Output(ids.ALERTS, "children"),
        Output(ids.REFRESH_STATE, "data"),
        Output("wall-digests", "data"),
        Input(ids.REFRESH, "n_intervals"),
        Input(ids.LANG, "data"),
        State("wall-digests", "data"),
        running=[(Output(ids.REFRESH, "disabled"), True, False)],
    )
    def refresh(_n, lang, digests):
        lang = lang if lang in ("zh", "en") else "zh"
        now = int(time.time())
        n_out = len(kpi_outputs) + 10
        try:
            data = snapshot(backend, current_scope(), now)
        except Exception as exc:  # noqa: BLE001 - the wall shows "unreachable", never a traceback
            app.logger.warning("wall refresh failed: %s", exc)
            state = {"ok_at": None, "failed_at": now, "reason": "unreachable"}
            return (*([no_update] * (n_out - 2)), state, no_update)
        return _outputs(backend, data, now, lang, digests or {})


def _outputs(backend, data: dict, now: int, lang: str, digests: dict) -> tuple:
    total = data["counters"].total
    open_by = {code: row["open"] for code, row in data["counters"].by_district.items()}
    tiles = kpis.wall_kpis(total, data["events"])
    new_digests = dict(digests)

    def changed(name: str, value) -> bool:
        d = _digest([lang, value])
        if digests.get(name) == d:
            return False
        new_digests[name] = d
        return True

    out: list = []
    for kpi in ids.KPIS:  # a tile whose texts the page shows already is left as it is
        tile = tiles[kpi]
        texts = [tile.value, tile.delta or "—", f"kpi-delta {tile.trend}"]
        out += texts if changed(f"kpi:{kpi}", texts) else [no_update] * 3

    names = backend.district_name
    rates = figures.rate_per_10k(open_by, backend.households)
    markers = [m for m in data["severe"] if m["lat"] or m["lon"]]
    out.append(
        figures.map_patch(backend.districts, rates, markers, lang=lang)
        if changed("map", [rates, markers])
        else no_update
    )
    levels = kpis.level_counts(total)
    out.append(figures.chain_patch(levels, lang=lang) if changed("chain", levels) else no_update)
    share = kpis.street_or_below_share(total)
    out.append(
        L.t(
            f"街道及以下办结占比 {share * 100:.1f}%"
            if share is not None
            else "街道及以下办结占比 —",
            "resolved at street level or below: "
            + (f"{share * 100:.1f}%" if share is not None else "—"),
        )
        if changed("share", share)
        else no_update
    )
    minute = now - now % 60
    out.append(
        figures.events_per_minute_patch(data["epm"], now, TZ, lang=lang)
        if changed("epm", [minute, data["epm"]])
        else no_update
    )
    out.append(
        figures.top_categories_patch(data["cats"], lang=lang)
        if changed("cats", data["cats"])
        else no_update
    )
    # the joint board shows time used, which moves every minute even without new rows
    out.append(
        panels.joint_board(data["joint"], data["tasks"], now, names)
        if changed("joint", [now // 60, data["joint"], data["tasks"]])
        else no_update
    )
    items = panels.ticker_items(data["events_feed"], data["transitions"])
    out.append(panels.ticker(items, TZ, names) if changed("ticker", items) else no_update)
    out.append(
        panels.alerts(data["severe"], now, names)
        if changed("alerts", [now // 60, data["severe"][:20]])
        else no_update
    )
    fresh = data["fresh"]
    out.append({"ok_at": now, "newest": fresh["newest"], "lag": fresh["lag"], "reason": ""})
    out.append(new_digests)
    return tuple(out)


def feeds_banner(silent: list) -> list:
    """ "数据源中断：城市物联感知平台 自 14:05" / "Feed silent: IoT Sensor Platform since 14:05"."""
    zh, en = [], []
    for name, since in silent:
        zh_name, en_name = feed_label(name)  # a department, or one of its sensor groups
        local = since.replace(tzinfo=UTC).astimezone(TZ).strftime("%H:%M")
        zh.append(f"{zh_name} 自 {local}")
        en.append(f"{en_name} since {local}")
    return [L.t("数据源中断：" + "，".join(zh), "Feed silent: " + "; ".join(en))]
