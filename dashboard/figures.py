"""Plotly figures of the dashboard, built by pure functions from query results (no I/O here).

Each figure has a matching `*_patch` that changes only the numbers of the figure already on the
screen, so a wall refresh sends a few hundred bytes instead of whole figures. Maps are offline:
Choroplethmap/Scattermap over an inline MapLibre style with a single background layer.
"""

from __future__ import annotations

import hashlib
from html import escape

import plotly.graph_objects as go
from dash import Patch

FONT = "WenQuanYi Micro Hei, Noto Sans CJK SC, Microsoft YaHei, sans-serif"
BG = "rgba(0,0,0,0)"
INK = "#d6e4ff"
GRID = "#1d3557"
SEVERITY_COLORS = {1: "#4cc9f0", 2: "#90be6d", 3: "#f9c74f", 4: "#f94144"}
CHANNELS = ("hotline", "grid_patrol", "sensor", "video", "app", "department", "other")
CHANNEL_COLORS = ("#4cc9f0", "#43aa8b", "#f9c74f", "#f3722c", "#b5179e", "#90be6d", "#7d8597")
LEVELS = ("city", "district", "street", "community", "grid")
OFFLINE_STYLE = {
    "version": 8,
    "name": "cityops-offline",
    # Not empty: an empty `sources` object does not survive Plotly.react's update of the map,
    # and MapLibre then refuses the style ("missing required property sources"), which made
    # every patched refresh fail to repaint the fills and markers.
    "sources": {"none": {"type": "geojson", "data": {"type": "FeatureCollection", "features": []}}},
    "layers": [
        {"id": "background", "type": "background", "paint": {"background-color": "#08162b"}}
    ],
}
NANJING_CENTER = {"lat": 31.93, "lon": 118.86}


def _base_layout(**extra) -> dict:
    layout = {
        "paper_bgcolor": BG,
        "plot_bgcolor": BG,
        "font": {"family": FONT, "color": INK, "size": 14},
        "margin": {"l": 8, "r": 8, "t": 8, "b": 8},
        "showlegend": False,
        "uirevision": "keep",
    }
    layout.update(extra)
    return layout


def plain(text) -> str:
    """Text for a figure, shown as written. Plotly renders hover labels, tick labels and trace
    names through a subset of HTML (<b>, <a href>, <span style>, <br>, entities): a title like
    `<a href=…>` from an event would become a live link on the wall. Every text that reaches a
    figure passes here; plotly turns &lt; &gt; &amp; back into the characters. Quotes stay as they
    are (plotly knows no &quot;, and without `<` there is no tag for them to close)."""
    return escape(str(text), quote=False)


def _text(pair: tuple[str, str], lang: str) -> str:
    return plain(pair[0] if lang == "zh" else pair[1])


# -- the city map ---------------------------------------------------------------------------------


def rate_per_10k(open_by_district: dict[str, int], households: dict[str, int]) -> dict[str, float]:
    """Open incidents per 10,000 households, per district."""
    return {
        code: round(open_by_district.get(code, 0) * 10000 / hh, 2) if hh else 0.0
        for code, hh in households.items()
    }


def _marker_arrays(markers: list[dict], lang: str) -> dict:
    return {
        "lat": [m["lat"] for m in markers],
        "lon": [m["lon"] for m in markers],
        "color": [SEVERITY_COLORS.get(int(m["severity"]), "#f94144") for m in markers],
        "size": [16 if int(m["severity"]) >= 4 else 11 for m in markers],
        "text": [f"{plain(m['title'])} · {_text(_sev(m['severity']), lang)}" for m in markers],
    }


def _sev(severity) -> tuple[str, str]:
    from cityops.dashboard.labels import SEVERITY

    return SEVERITY.get(int(severity), (str(severity), str(severity)))


def map_figure(
    geojson: dict,
    districts: list[tuple[str, str, str]],
    rates: dict[str, float],
    markers: list[dict],
    *,
    lang: str = "zh",
    zoom: float = 8.3,
    center: dict | None = None,
) -> go.Figure:
    """Districts coloured by open incidents per 10,000 households, markers for severe incidents.
    `districts` is [(adcode, name_zh, name_en)] in a fixed order the patches rely on."""
    codes = [code for code, _, _ in districts]
    names = [_text((zh, en), lang) for _, zh, en in districts]
    arrays = _marker_arrays(markers, lang)
    # Stable uids: Plotly.react then updates these traces in place. Without them every patched
    # refresh looked like new traces to plotly.js, whose map subplot failed to re-add their
    # sources, so the fills and markers kept their first paint.
    choropleth = go.Choroplethmap(
        uid="districts",
        geojson=geojson,
        locations=codes,
        z=[rates.get(c, 0.0) for c in codes],
        text=names,
        featureidkey="id",
        colorscale=[[0, "#0d3b66"], [0.5, "#f4a261"], [1, "#e63946"]],
        **_z_range(rates),
        marker={"opacity": 0.75, "line": {"width": 1.5, "color": "#9ad1ff"}},
        hovertemplate="%{text}: %{z}<extra></extra>",
        colorbar={"thickness": 12, "len": 0.6, "x": 0.98, "tickfont": {"color": INK}},
    )
    scatter = go.Scattermap(
        uid="markers",
        lat=arrays["lat"],
        lon=arrays["lon"],
        mode="markers",
        text=arrays["text"],
        marker={"color": arrays["color"], "size": arrays["size"], "opacity": 0.95},
        hovertemplate="%{text}<extra></extra>",
    )
    fig = go.Figure([choropleth, scatter])
    fig.update_layout(
        **_base_layout(
            map={"style": OFFLINE_STYLE, "center": center or NANJING_CENTER, "zoom": zoom}
        )
    )
    return fig


def _z_range(rates: dict[str, float]) -> dict[str, float]:
    """The colour scale spans the districts' own range, so the busier districts stand out even
    when every district has many open incidents (from 0 when all are equal or none has any)."""
    values = list(rates.values()) or [0.0]
    low, high = min(values), max(values)
    if high - low < 1.0:
        return {"zmin": 0.0, "zmax": max(1.0, high)}
    return {"zmin": float(int(low)), "zmax": high}


def _revision(*parts) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=6).hexdigest()


def map_patch(
    districts: list[tuple[str, str, str]],
    rates: dict[str, float],
    markers: list[dict],
    *,
    lang: str = "zh",
) -> Patch:
    patch = Patch()
    codes = [code for code, _, _ in districts]
    # A new data revision makes Plotly.react redraw the map's WebGL layers (fills and markers);
    # without it only the SVG colour bar followed the new numbers.
    patch["layout"]["datarevision"] = _revision(rates, markers)
    patch["data"][0]["z"] = [rates.get(c, 0.0) for c in codes]
    for key, value in _z_range(rates).items():
        patch["data"][0][key] = value
    arrays = _marker_arrays(markers, lang)
    patch["data"][1]["lat"] = arrays["lat"]
    patch["data"][1]["lon"] = arrays["lon"]
    patch["data"][1]["text"] = arrays["text"]
    patch["data"][1]["marker"]["color"] = arrays["color"]
    patch["data"][1]["marker"]["size"] = arrays["size"]
    return patch


# -- the chain of levels --------------------------------------------------------------------------


def chain_figure(level_counts: dict[str, int], *, lang: str = "zh") -> go.Figure:
    """Open incidents at each level, city at the top."""
    from cityops.dashboard.labels import LEVEL

    names = [_text(LEVEL[level], lang) for level in LEVELS]
    values = [level_counts.get(level, 0) for level in LEVELS]
    bar = go.Bar(
        x=values,
        y=names,
        orientation="h",
        text=values,
        textposition="auto",
        marker={"color": ["#e63946", "#f3722c", "#f9c74f", "#90be6d", "#4cc9f0"]},
        textfont={"size": 18},
        hoverinfo="skip",
    )
    fig = go.Figure([bar])
    fig.update_layout(
        **_base_layout(
            xaxis={"visible": False},
            yaxis={"autorange": "reversed", "tickfont": {"size": 16}},
            margin={"l": 70, "r": 8, "t": 4, "b": 4},
        )
    )
    return fig


def chain_patch(level_counts: dict[str, int], *, lang: str = "zh") -> Patch:
    from cityops.dashboard.labels import LEVEL

    patch = Patch()
    values = [level_counts.get(level, 0) for level in LEVELS]
    patch["data"][0]["x"] = values
    patch["data"][0]["y"] = [_text(LEVEL[level], lang) for level in LEVELS]
    patch["data"][0]["text"] = values
    return patch


# -- events per minute by channel -----------------------------------------------------------------


def _epm_series(rows: list[tuple[int, str, int]], minutes: list[int]) -> list[list[int]]:
    index = {m: i for i, m in enumerate(minutes)}
    series = [[0] * len(minutes) for _ in CHANNELS]
    for minute, channel, n in rows:
        c = CHANNELS.index(channel) if channel in CHANNELS else len(CHANNELS) - 1
        if minute in index:
            series[c][index[minute]] += n
    return series


def minute_axis(now: int) -> list[int]:
    last = now - now % 60
    return [last - 60 * i for i in range(59, -1, -1)]


def _minute_labels(minutes: list[int], tz) -> list[str]:
    import datetime as dt

    return [dt.datetime.fromtimestamp(m, tz).strftime("%H:%M") for m in minutes]


def events_per_minute_figure(
    rows: list[tuple[int, str, int]], now: int, tz, *, lang: str = "zh"
) -> go.Figure:
    from cityops.dashboard.labels import CHANNEL

    minutes = minute_axis(now)
    labels = _minute_labels(minutes, tz)
    series = _epm_series(rows, minutes)
    traces = [
        go.Bar(
            x=labels,
            y=ys,
            name=_text(CHANNEL[ch], lang),
            marker={"color": color},
            hovertemplate="%{x} %{y}<extra>" + _text(CHANNEL[ch], lang) + "</extra>",
        )
        for ch, ys, color in zip(CHANNELS, series, CHANNEL_COLORS, strict=True)
    ]
    fig = go.Figure(traces)
    fig.update_layout(
        **_base_layout(
            barmode="stack",
            bargap=0.15,
            showlegend=True,
            legend={"orientation": "h", "y": 1.18, "x": 0, "font": {"size": 12}},
            xaxis={"nticks": 7, "gridcolor": GRID, "tickfont": {"size": 12}},
            yaxis={"gridcolor": GRID, "tickfont": {"size": 12}},
            margin={"l": 36, "r": 8, "t": 28, "b": 24},
        )
    )
    return fig


def events_per_minute_patch(
    rows: list[tuple[int, str, int]], now: int, tz, *, lang: str = "zh"
) -> Patch:
    from cityops.dashboard.labels import CHANNEL

    minutes = minute_axis(now)
    labels = _minute_labels(minutes, tz)
    patch = Patch()
    for i, ys in enumerate(_epm_series(rows, minutes)):
        patch["data"][i]["x"] = labels
        patch["data"][i]["y"] = ys
        patch["data"][i]["name"] = _text(CHANNEL[CHANNELS[i]], lang)
    return patch


# -- top categories -------------------------------------------------------------------------------


def _category_names(top: list[tuple[str, int]], lang: str) -> list[str]:
    from cityops.dashboard.labels import category_text

    return [_text(category_text(code), lang) for code, _ in top]


def top_categories_figure(top: list[tuple[str, int]], *, lang: str = "zh") -> go.Figure:
    values = [n for _, n in top]
    bar = go.Bar(
        x=values,
        y=_category_names(top, lang),
        orientation="h",
        text=values,
        textposition="auto",
        marker={"color": "#4895ef"},
        textfont={"size": 15},
        hoverinfo="skip",
    )
    fig = go.Figure([bar])
    fig.update_layout(
        **_base_layout(
            xaxis={"visible": False},
            yaxis={"autorange": "reversed", "tickfont": {"size": 14}},
            margin={"l": 110, "r": 8, "t": 4, "b": 4},
        )
    )
    return fig


def top_categories_patch(top: list[tuple[str, int]], *, lang: str = "zh") -> Patch:
    patch = Patch()
    values = [n for _, n in top]
    patch["data"][0]["x"] = values
    patch["data"][0]["text"] = values
    patch["data"][0]["y"] = _category_names(top, lang)
    return patch


# -- one district ---------------------------------------------------------------------------------


def district_figure(
    geojson: dict,
    adcode: str,
    name: str,
    rate: float,
    markers: list[dict],
    center: tuple[float, float],
    *,
    lang: str = "zh",
) -> go.Figure:
    feature = [f for f in geojson.get("features", []) if str(f.get("id")) == adcode]
    sub = {"type": "FeatureCollection", "features": feature}
    return map_figure(
        sub,
        [(adcode, name, name)],
        {adcode: rate},
        markers,
        lang=lang,
        zoom=9.6,
        center={"lat": center[0], "lon": center[1]},
    )
