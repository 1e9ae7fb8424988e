"""The wall's sensor board scene (感知监测): readings of the last 30 minutes over their rule's
threshold on the map, the rules firing with their sensor counts, the sensors over threshold and
the silent feeds; what a silent feed fed (a rule, a sensor, the map of readings) is greyed with
"数据源中断 自 HH:MM" (dashboard/feeds.py decides, docs/early-warning.md)."""

from __future__ import annotations

from dash import dcc, html

from cityops.dashboard import feeds, figures, ids, scaling
from cityops.dashboard import labels as L
from cityops.dashboard import sensor_board as sb
from cityops.dashboard.backend import TZ
from cityops.dashboard.feeds import feed_label
from cityops.storage.feed_states import silent_feeds
from cityops.storage.sensor_board import latest_readings

SENSOR_WINDOW = 1800  # a reading older than 30 minutes is no longer "now"


def sensor_scene(backend, rules, now: int, lang: str, viewport: dict | None = None) -> list:
    metrics = tuple(sorted({r.metric for r in rules}))
    readings = backend.run(latest_readings, metrics=metrics, since=now - SENSOR_WINDOW)
    hits = sb.over_threshold(readings, rules)
    silent = backend.run(silent_feeds)
    points = []
    for hit in hits[:200]:
        code = hit["micro_grid"] or hit["street"] or hit["district"]
        lat, lon = backend.registry.point(code) if backend.registry.unit(code) else (0.0, 0.0)
        if lat or lon:
            points.append(
                {
                    "lat": lat,
                    "lon": lon,
                    "severity": hit["severity"],
                    "title": f"{hit['sensor_id']} {hit['metric']} {hit['value']:.2f}",
                }
            )
    fig = figures.map_figure(backend.geojson, backend.districts, {}, points, lang=lang)
    width = (viewport or {}).get("w") or 1920
    height = (viewport or {}).get("h") or 1080
    bounds = scaling.bounds_of(backend.geojson)
    if bounds is not None:  # the map panel: ~58% of the width, ~72% of the height
        fitted = scaling.fit_view(bounds, width * 0.58, height * 0.72)
        fig.update_layout(map={"zoom": fitted["zoom"], "center": fitted["center"]})
    fig.update_layout(font={"size": round(14 * scaling.scale_for(height))})
    firing = []
    cut_rules = []  # (rule, since) of the rules whose every feed is silent
    for rule, n in sb.rules_firing(hits, rules):
        cut = feeds.rule_silent_since(silent, rule.metric, rule.departments)
        row = [
            html.Span(figures.plain(rule.title or rule.rule), className="al-text"),
            html.Span(f"{n}", className="al-age"),
        ]
        if cut is not None:
            cut_rules.append((rule, cut))
            row.append(_cut_mark(cut))
        firing.append(
            html.Div(row, className=("al-row extreme" if n else "al-row") + _cut_class(cut))
        )
    over = []
    for h in hits[:12]:
        cut = feeds.silent_since(silent, h["department"], h["metric"], h["sensor_id"])
        row = [
            html.Span(h["sensor_id"], className="tk-kind"),
            html.Span(f"{h['metric']} {h['value']:.2f} > {h['limit']:g}", className="tk-text"),
        ]
        if cut is not None:
            row.append(_cut_mark(cut))
        over.append(html.Div(row, className="tk-row extreme" + _cut_class(cut)))
    map_cut = min((since for _, since in cut_rules), default=None)
    quiet = [
        html.Div(
            L.t(
                f"{feed_label(d)[0]} 自 {since:%H:%M} UTC",
                f"{feed_label(d)[1]} since {since:%H:%M} UTC",
            ),
            className="tk-row breach",
        )
        for d, since in silent
    ]
    empty = html.Div(L.t("无", "none"), className="empty")
    return [
        html.Section(
            [
                html.H2(
                    [L.t("超阈值读数", "readings over thresholds")]
                    + (
                        [_cut_mark(map_cut, ", ".join(r.metric for r, _ in cut_rules))]
                        if map_cut is not None
                        else []
                    )
                ),
                dcc.Graph(
                    id=ids.SCENE_SENSOR_MAP,
                    figure=fig,
                    className="graph",
                    config={"displayModeBar": False, "responsive": True},
                ),
            ],
            className="panel" + _cut_class(map_cut),
        ),
        html.Div(
            [
                html.Section(
                    [
                        html.H2(L.t("规则触发", "rules firing")),
                        html.Div(firing or [empty], id=ids.SCENE_RULES),
                    ],
                    className="panel",
                ),
                html.Section(
                    [
                        html.H2(L.t("超阈值传感器", "sensors over threshold")),
                        html.Div(over or [empty], id=ids.SCENE_SENSORS_OVER),
                    ],
                    className="panel",
                ),
                html.Section(
                    [
                        html.H2(L.t("数据源中断", "silent feeds")),
                        html.Div(quiet or [empty], id=ids.SCENE_SILENT),
                    ],
                    className="panel",
                ),
            ],
            className="col",
        ),
    ]


# -- callbacks ------------------------------------------------------------------------------------


def _cut_class(since) -> str:
    return "" if since is None else " feed-cut"


def _cut_mark(since, what: str = "") -> html.Span:
    """The mark on an element whose data source is silent: "数据源中断 自 14:05"."""
    zh, en = feeds.cut_off_label(since, TZ)
    tail = f" · {what}" if what else ""
    return html.Span(L.t(zh + tail, en + tail), className="cut-mark")
