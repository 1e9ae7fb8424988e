"""Figures and KPI tiles from query results, without a browser."""

import datetime as dt

from dash import html

from cityops.dashboard import figures, ids, kpis, panels
from cityops.dashboard.backend import TZ
from cityops.storage.measures import COUNTER_NAMES

DISTRICTS = [("320102", "玄武区", "Xuanwu"), ("320105", "建邺区", "Jianye")]
GEOJSON = {"type": "FeatureCollection", "features": []}
MARKER = {"lat": 32.0, "lon": 118.7, "severity": 4, "title": "燃气泄漏"}


def test_map_is_offline_and_coloured_per_10k_households():
    rates = figures.rate_per_10k({"320102": 3}, {"320102": 15000, "320105": 0})
    assert rates == {"320102": 2.0, "320105": 0.0}
    fig = figures.map_figure(GEOJSON, DISTRICTS, rates, [MARKER])
    assert fig.data[0].type == "choroplethmap" and fig.data[1].type == "scattermap"
    assert list(fig.data[0].z) == [2.0, 0.0]
    style = fig.layout.map.style
    # no tiles, no URLs: one empty inline source (MapLibre needs a non-empty `sources` after an
    # update) and a background layer
    assert all(
        src["type"] == "geojson" and not src["data"]["features"]
        for src in style["sources"].values()
    )
    assert [layer["type"] for layer in style["layers"]] == ["background"]
    assert "http" not in repr(style)
    assert fig.data[0].uid == "districts" and fig.data[1].uid == "markers"
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0.0, 2.0)
    assert list(fig.data[1].marker.color) == [figures.SEVERITY_COLORS[4]]


def test_map_patch_changes_only_the_numbers():
    patch = figures.map_patch(DISTRICTS, {"320102": 1.5}, [MARKER]).to_plotly_json()
    paths = {tuple(op["location"]) for op in patch["operations"]}
    assert ("data", 0, "z") in paths and ("data", 1, "lat") in paths
    # numbers only, plus the data revision that makes Plotly.react repaint the map's layers
    assert {op["location"][0] for op in patch["operations"]} == {"data", "layout"}
    assert [op["location"] for op in patch["operations"] if op["location"][0] == "layout"] == [
        ["layout", "datarevision"]
    ]


def test_map_colour_scale_spans_the_districts_range():
    districts = DISTRICTS + [("320104", "秦淮区", "Qinhuai")]
    fig = figures.map_figure(
        GEOJSON, districts, {"320102": 240.5, "320105": 262.0, "320104": 251.0}, []
    )
    assert (fig.data[0].zmin, fig.data[0].zmax) == (240.0, 262.0)
    assert (figures.map_figure(GEOJSON, DISTRICTS, {}, []).data[0].zmax) == 1.0


def test_chain_figure_lists_the_five_levels_city_first():
    fig = figures.chain_figure({"street": 4, "grid": 1})
    assert list(fig.data[0].y) == ["市级", "区级", "街道", "社区", "网格"]
    assert list(fig.data[0].x) == [0, 0, 4, 0, 1]
    assert list(figures.chain_figure({}, lang="en").data[0].y)[0] == "city"


def test_events_per_minute_buckets_by_channel_over_sixty_minutes():
    now = 1_800_000_000
    minute = now - now % 60
    fig = figures.events_per_minute_figure([(minute, "hotline", 5), (minute, "weird", 2)], now, TZ)
    assert len(fig.data) == len(figures.CHANNELS)
    assert list(fig.data[0].y)[-1] == 5 and list(fig.data[-1].y)[-1] == 2
    assert len(fig.data[0].x) == 60


def counters(**values):
    base = dict.fromkeys(COUNTER_NAMES, 0)
    base.update(values)
    return base


def test_kpis_compare_with_the_same_time_yesterday():
    tiles = kpis.wall_kpis(
        counters(
            open=12,
            open_y=10,
            win=10,
            win_closed=4,
            win_y=10,
            win_closed_y=5,
            win_done=5,
            win_actual=5,
            win_repeat=1,
        ),
        {"today": 1200, "yesterday": 1000},
    )
    assert tiles[ids.KPI_EVENTS_TODAY] == kpis.Kpi("1,200", "▲ 200", "up-neutral")
    assert tiles[ids.KPI_OPEN] == kpis.Kpi("12", "▲ 2", "up-bad")
    assert tiles[ids.KPI_CLOSURE_RATE] == kpis.Kpi("40.0%", "▼ 10.0 pt", "down-bad")
    assert tiles[ids.KPI_RESOLUTION_RATE].value == "100.0%"
    assert tiles[ids.KPI_REPEAT_RATE].value == "10.0%"


def test_rates_without_incidents_show_a_dash_not_zero():
    assert (
        kpis.wall_kpis(counters(), {"today": 0, "yesterday": 0})[ids.KPI_CLOSURE_RATE].value == "—"
    )


def test_freshness_is_stale_when_old_or_unreachable():
    assert not kpis.freshness(100, 0.5, 110, 30).stale
    assert kpis.freshness(100, 0.5, 200, 30).reason == "old"
    assert kpis.freshness(None, None, 200, 30).reason == "no-data"
    assert kpis.freshness(100, 0.5, 101, 30, reachable=False).reason == "unreachable"


def _texts(component) -> list[str]:
    out = []

    def walk(node):
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, (list, tuple)):
            for child in node:
                walk(child)
        elif hasattr(node, "children"):
            walk(node.children)

    walk(component)
    return out


def test_a_script_title_stays_a_text_child():
    title = "<script>alert(1)</script>"
    items = panels.ticker_items(
        [
            {
                "id": "e",
                "type": "city.report.v1",
                "time": 1,
                "title": title,
                "category": "x",
                "district": "320105",
                "severity": 4,
            }
        ],
        [],
    )
    div = panels.ticker(items, TZ, lambda code: ("建邺区", "Jianye"))
    assert title in _texts(div)
    assert not any(isinstance(c, html.Script) for c in _texts(div))
    assert items[0]["cls"] == "extreme"


def test_joint_board_marks_overdue_incidents():
    now = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp())
    inc = {
        "incident_id": "i",
        "title": "t",
        "district": "320105",
        "reported_at": now - 7200,
        "resolve_due": now - 3600,
        "departments": ["water", "power"],
        "lead_department": "water",
    }
    board = panels.joint_board(
        [inc],
        [{"incident_id": "i", "department": "water", "role": "lead", "status": "accepted"}],
        now,
        lambda c: ("建邺区", "Jianye"),
    )
    row = board.children[0]
    assert "overdue" in row.className
    chips = row.children[1].children
    assert [c.className.split()[1] for c in chips] == ["chip-lead", "chip-assist"]
    assert panels.time_used(0, 100, 50) == 0.5
