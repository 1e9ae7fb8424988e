"""The wall's supervision scene (书记督办, kiosk-safe): the supervised matters of the city (or of a
signed-in officer's scope) counted per level and district — open, overdue, closed — the districts
with the most overdue first. Counts only: no title, no address, no person, no incident id, no
link and no action, so a kiosk session (which may load the wall and nothing else) can show it;
the boards themselves stay on `/supervision`, behind a login."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from cityops.dashboard import ids
from cityops.dashboard import labels as L
from cityops.dashboard.auth import current_scope
from cityops.dashboard.pages.supervision import LEVELS
from cityops.storage import supervision_queries as sq

DIGEST = "scene-supervision-digest"


def scene() -> list:
    """The scene's box content; filled by the callback when the scene comes up."""
    return [
        html.Div(
            html.Div(L.t("书记督办", "supervision"), className="empty"),
            id=ids.SCENE_SUPERVISION_SUMMARY,
            className="sv-summary",
        ),
        dcc.Store(id=DIGEST, data=None),
    ]


def _cell(value: int, kind: str) -> html.Span:
    return html.Span(str(value), className=f"sv-count {kind}" + (" hot" if value else ""))


def summary_view(backend, rows: list[dict]) -> list:
    """Per level a panel: one row per district (overdue first), with the level's totals."""
    if not rows:
        return [html.Div(L.t("暂无督办事项", "no supervised matters"), className="empty")]
    panels = []
    for level, (zh, en) in LEVELS.items():
        mine = [r for r in rows if r["level"] == level]
        if not mine:
            continue
        total = {k: sum(r[k] for r in mine) for k in ("open", "overdue", "closed")}
        header = html.Div(
            [
                html.Span(L.t("区县", "district"), className="sv-name"),
                html.Span(L.t("超期", "overdue"), className="sv-count"),
                html.Span(L.t("在办", "open"), className="sv-count"),
                html.Span(L.t("已办结", "closed"), className="sv-count"),
            ],
            className="sv-row sv-head",
        )
        lines = [
            html.Div(
                [
                    html.Span(L.t(*backend.district_name(r["district"])), className="sv-name"),
                    _cell(r["overdue"], "overdue"),
                    _cell(r["open"], "open"),
                    _cell(r["closed"], "closed"),
                ],
                className="sv-row" + (" overdue" if r["overdue"] else ""),
                **{"data-level": level, "data-district": r["district"]},
            )
            for r in mine
        ]
        panels.append(
            html.Section(
                [
                    html.H2(
                        [
                            L.t(zh, en),
                            html.Span(
                                L.t(
                                    f"超期 {total['overdue']} · 在办 {total['open']}",
                                    f"overdue {total['overdue']} · open {total['open']}",
                                ),
                                className="sv-total",
                            ),
                        ]
                    ),
                    html.Div([header, *lines], className="sv-table"),
                ],
                className="panel sv-level",
                **_data_level(level),
            )
        )
    return panels


def register(app, backend) -> None:
    @app.callback(
        Output(ids.SCENE_SUPERVISION_SUMMARY, "children"),
        Output(DIGEST, "data"),
        Input(ids.SCENE_STATE, "data"),
        Input(ids.REFRESH, "n_intervals"),
        State(DIGEST, "data"),
    )
    def supervision_summary(state, _n, held):
        """Answers only while the scene is shown and only when the counts changed (else 204)."""
        if not state or state.get("scene") != "supervision":
            raise PreventUpdate
        try:
            rows = backend.run(sq.summary, now=int(time.time()), scope=current_scope())
        except Exception:  # noqa: BLE001 - the scene shows a message, never a traceback
            return html.Div(L.t("数据库不可达", "storage unreachable"), className="empty"), None
        digest = hashlib.blake2b(repr(rows).encode(), digest_size=8).hexdigest()
        if digest == held:
            raise PreventUpdate
        return summary_view(backend, rows), digest


def _data_level(level: str) -> dict[str, Any]:
    """The panel's `data-level` attribute (Dash takes data-* attributes as keyword arguments)."""
    return {"data-level": level}
