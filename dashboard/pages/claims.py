"""`/claims`: resident-unit claims (认领, docs/claims.md) — the counts per district (published,
claimed, completed, confirmed) and the items by state with the claiming unit and each item's
history. Signed-in users only (the router and the guard in dashboard/auth.py); an officer sees
their own district whatever the query string asks, an admin the city or `?district=ADCODE`.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any
from urllib.parse import parse_qs

from dash import html

from cityops.dashboard import labels as L
from cityops.dashboard.backend import TZ
from cityops.schemas.claims import CLAIM_CATEGORIES, resident_units
from cityops.storage.claim_queries import claim_history, district_counts, latest_claims

# Stable element ids of the page (for tests and operators' scripts)
CLAIMS_PAGE = "claims-page"
CLAIMS_COUNTS = "claims-counts"
CLAIMS_ITEMS = "claims-items"
MAX_ITEMS = 500  # items listed (the newest changes first); the counts cover all

CLAIM_STATUS = {
    "published": ("待认领", "published"),
    "claimed": ("已认领", "claimed"),
    "in_progress": ("推进中", "in progress"),
    "done": ("待确认", "done, to confirm"),
    "confirmed": ("已确认办结", "confirmed"),
}
STEP = {
    "item": ("发布难题", "published"),
    "take": ("认领", "claimed"),
    "progress": ("进展", "progress"),
    "done": ("报告完成", "reported done"),
    "confirm": ("社区确认", "community decision"),
}
COUNTS = (
    ("published", "发布", "published"),
    ("claimed", "已认领", "claimed"),
    ("completed", "已完成", "completed"),
    ("confirmed", "已确认", "confirmed"),
)
UNIT_KIND = {
    "agency": ("机关", "agency"),
    "school": ("学校", "school"),
    "hospital": ("医院", "hospital"),
    "company": ("企业", "company"),
}


def layout(backend, user, search: str = "") -> html.Div:
    params = {k: v[0] for k, v in parse_qs(search.lstrip("?")).items()}
    district = user.scope or params.get("district") or None
    if district is not None and not (district.isdigit() and len(district) == 6):
        district = None
    try:
        items = backend.run(latest_claims, district)
        history = backend.run(claim_history, [i["item_id"] for i in items[:MAX_ITEMS]])
    except Exception:  # noqa: BLE001 - shown as a message, not a traceback
        return html.Div(L.t("数据库不可达", "storage unreachable"), className="error")
    scope = L.t(*backend.district_name(district)) if district else L.t("全市", "the whole city")
    return html.Div(
        [
            html.H1(L.t("驻地单位认领", "Resident-unit claims")),
            html.P([L.t("范围：", "Scope: "), scope], className="count"),
            _counts(backend, items),
            html.Div(_by_status(backend, items[:MAX_ITEMS], history), id=CLAIMS_ITEMS),
        ],
        id=CLAIMS_PAGE,
        className="claims-page",
    )


def _counts(backend, items: list[dict]) -> html.Table:
    counts = district_counts(items)
    head = html.Tr(
        [html.Th(L.t("区", "district"))] + [html.Th(L.t(zh, en)) for _, zh, en in COUNTS]
    )
    rows = [head]
    for code in sorted(counts):
        row = counts[code]
        rows.append(
            html.Tr(
                [html.Td(L.t(*backend.district_name(code)))]
                + [html.Td(f"{row[name]:,}") for name, _, _ in COUNTS],
                **_data("district", code),
            )
        )
    return html.Table(rows, id=CLAIMS_COUNTS, className="grid-table")


def _by_status(backend, items: list[dict], history: dict) -> list:
    sections: list = []
    if not items:
        return [html.P(L.t("暂无认领事项", "no claim items yet"), className="count")]
    for status, (zh, en) in CLAIM_STATUS.items():
        chosen = [i for i in items if i["status"] == status]
        if not chosen:
            continue
        sections.append(html.H2([L.t(zh, en), f" ({len(chosen)})"]))
        sections.append(
            html.Table(
                [_head()] + [_row(backend, i, history.get(i["item_id"], [])) for i in chosen],
                className="grid-table",
                **_data("status", status),
            )
        )
    return sections


def _head() -> html.Tr:
    return html.Tr(
        [
            html.Th(L.t(*h))
            for h in (
                ("难题", "item"),
                ("社区", "community"),
                ("类别", "category"),
                ("认领单位", "claiming unit"),
                ("进度", "progress"),
                ("更新", "updated"),
                ("经过", "history"),
            )
        ]
    )


def _row(backend, item: dict, steps: list) -> html.Tr:
    community = backend.registry.unit(item["community"])
    community_label = (
        L.t(community.name_zh, community.name_en or community.name_zh)
        if community
        else item["community"]
    )
    category = CLAIM_CATEGORIES.get(item["category"], (item["category"], item["category"]))
    return html.Tr(
        [
            html.Td([html.Div(item["title"]), html.Small(item["item_id"], className="dim")]),
            html.Td(community_label),
            html.Td(L.t(*category)),
            html.Td(_unit(item["unit_id"])),
            html.Td(
                f"{item['percent']}%" + (f" ↺{item['sent_back']}" if item["sent_back"] else "")
            ),
            html.Td(_when(item["updated_at"])),
            html.Td(_history(backend, steps)),
        ],
        **_data("item", item["item_id"]),
    )


def _unit(unit_id: str):
    if not unit_id:
        return "—"
    unit = resident_units().get(unit_id)
    if unit is None:
        return unit_id
    kind = UNIT_KIND.get(unit.kind, (unit.kind, unit.kind))
    return html.Span([L.t(unit.name_zh, unit.name_en), " · ", L.t(*kind)])


def _history(backend, steps: list) -> html.Details:
    lines = []
    for _seq, at, verb, _before, after, actor, comment in steps:
        unit = resident_units().get(actor)
        place = backend.registry.unit(actor) if unit is None else None
        if unit is not None:
            who = L.t(unit.name_zh, unit.name_en)
        elif place is not None:  # the community acting
            who = L.t(place.name_zh, place.name_en or place.name_zh)
        else:
            who = actor
        lines.append(
            html.Li(
                [
                    _when(at),
                    " ",
                    L.t(*STEP.get(verb, (verb, verb))),
                    " → ",
                    L.t(*CLAIM_STATUS.get(after, (after, after))),
                    " · ",
                    who,
                    f" · {comment}" if comment else "",
                ]
            )
        )
    return html.Details([html.Summary(f"{len(steps)}"), html.Ul(lines)])


def _data(name: str, value: str) -> dict[str, Any]:
    """A `data-<name>` attribute (Dash passes data-* keywords through to the element)."""
    return {f"data-{name}": value}


def _when(moment) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(TZ).strftime("%m-%d %H:%M")


def register(app, backend) -> None:
    """The claims page is rendered whole by the router; no callbacks of its own."""
