"""`/returns`: the returns audit (退单审核, CONTRACT §11) — per returning department the returns,
how many the dispatch desk upheld (维持), reassigned (改派) or has still to decide, and the recent
returns with their reason, the decision, who decided and when (storage/returns_audit.py).
Signed-in users only (the guard of dashboard/auth.py and the router); an officer sees the returns
of their own district (or street) whatever the query string asks — the scope is a term of the
query — an admin the city or `?district=ADCODE`. `?days=N` (1–366, default 30) sets the window.
Every shown text is a Dash component's text (escaped by the browser's React), never markup.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs

from dash import dcc, html

from cityops.dashboard import labels as L
from cityops.dashboard.backend import TZ
from cityops.storage import returns_audit as ra

# Stable element ids of the page (for tests and operators' scripts)
RETURNS_PAGE = "returns-page"
RETURNS_COUNTS = "returns-counts"
RETURNS_RECENT = "returns-recent"
DEFAULT_DAYS = 30
MAX_RECENT = 200  # returns listed (newest first); the counts cover all of the window

OUTCOME = {
    "upheld": ("维持", "upheld"),
    "reassigned": ("改派", "reassigned"),
    "pending": ("待审核", "pending"),
}
COUNTS = (
    ("returns", "退单", "returns"),
    ("upheld", "维持", "upheld"),
    ("reassigned", "改派", "reassigned"),
    ("pending", "待审核", "pending"),
)


def window(params: dict[str, str]) -> int:
    """Days of the window from `?days=` (1–366); anything else the default. Pure."""
    text = params.get("days", "")
    if text.isdigit() and 1 <= int(text) <= 366:
        return int(text)
    return DEFAULT_DAYS


def page_scope(user, params: dict[str, str]) -> str | None:
    """The unit whose returns `user` sees: an officer's own scope always; an admin (no scope) the
    city or a well-formed `?district=`. Pure."""
    if user.scope:
        return user.scope
    district = params.get("district") or ""
    return district if district.isdigit() and len(district) == 6 else None


def layout(backend, user, search: str = "") -> html.Div:
    params = {k: v[-1] for k, v in parse_qs(search.lstrip("?")).items()}
    days, scope = window(params), page_scope(user, params)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    try:
        cases = backend.run(ra.read_cases, since, None, scope)
    except Exception:  # noqa: BLE001 - shown as a message, not a traceback
        return html.Div(L.t("数据库不可达", "storage unreachable"), className="error")
    where = L.t(*backend.district_name(scope)) if scope else L.t("全市", "the whole city")
    return html.Div(
        [
            html.H1(L.t("退单审核", "Returns audit")),
            html.P(
                [L.t("范围：", "Scope: "), where, " · ", L.t(f"近{days}天", f"last {days} days")],
                className="count",
            ),
            html.H2(L.t("按退单部门", "by returning department")),
            _counts(ra.by_department(cases)),
            html.H2(L.t("最近退单", "recent returns")),
            html.Div(_recent(cases[:MAX_RECENT]), id=RETURNS_RECENT),
        ],
        id=RETURNS_PAGE,
        className="returns-page",
    )


def _counts(rows: list[dict]) -> html.Table | html.P:
    if not rows:
        return html.P(L.t("暂无退单", "no returns"), id=RETURNS_COUNTS, className="count")
    head = html.Tr(
        [html.Th(L.t("部门", "department"))] + [html.Th(L.t(z, e)) for _, z, e in COUNTS]
    )
    lines = [head]
    for row in rows:
        lines.append(
            html.Tr(
                [html.Td(L.department(row["department"]))]
                + [html.Td(f"{row[name]:,}", className=f"n-{name}") for name, _, _ in COUNTS],
                **_data("department", row["department"]),
            )
        )
    total = {name: sum(r[name] for r in rows) for name, _, _ in COUNTS}
    lines.append(
        html.Tr(
            [html.Td(L.t("合计", "total"))]
            + [html.Td(f"{total[name]:,}", className=f"n-{name}") for name, _, _ in COUNTS],
            **_data("department", "_total"),
        )
    )
    return html.Table(lines, id=RETURNS_COUNTS, className="grid-table")


def _recent(cases: list[dict]) -> list:
    if not cases:
        return []
    head = html.Tr(
        [
            html.Th(L.t(*h))
            for h in (
                ("退单时间", "returned at"),
                ("事项", "incident"),
                ("退单部门", "returned by"),
                ("理由", "reason"),
                ("审核结果", "decision"),
                ("审核人", "decided by"),
                ("审核时间", "decided at"),
            )
        ]
    )
    lines = [head]
    for case in cases:
        decided = [case["decided_by"] or "—"]
        if case["desk"]:
            decided += [" · ", L.department(case["desk"])]
        outcome: list = [L.pair(OUTCOME, case["outcome"])]
        if case["outcome"] == "reassigned" and case["note"]:
            outcome += [html.Small(f" {case['note']}", className="dim")]
        lines.append(
            html.Tr(
                [
                    html.Td(_when(case["returned_at"])),
                    html.Td(
                        dcc.Link(case["incident_id"], href=f"/incidents/{case['incident_id']}")
                    ),
                    html.Td(
                        [L.department(case["returned_by"])]
                        + (
                            [html.Small(f" {case['returned_actor']}")]
                            if case["returned_actor"]
                            else []
                        )
                    ),  # fmt: skip
                    html.Td(case["reason"], className="return-reason"),
                    html.Td(outcome, className=f"outcome-{case['outcome']}"),
                    html.Td(decided, className="decided-by"),
                    html.Td(_when(case["decided_at"]), className="decided-at"),
                ],
                **_data("incident", case["incident_id"]),
            )
        )
    return [html.Table(lines, className="grid-table")]


def _data(name: str, value: str) -> dict[str, Any]:
    """A `data-<name>` attribute (Dash passes data-* keywords through to the element)."""
    return {f"data-{name}": value}


def _when(moment) -> str:
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(TZ).strftime("%m-%d %H:%M")
