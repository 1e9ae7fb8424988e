"""可能重复 (possible duplicates) on the incident page: other open incidents of the same category
within 50 m and 72 h of this one (storage/duplicates.py), nearest first, each with its distance,
the hours between the reports, its status and a link — for the officer to compare before a merge
(并单). Only incidents inside the officer's scope are read (the scope is a term of the query)."""

from __future__ import annotations

from dash import dcc, html

from cityops.dashboard import labels as L
from cityops.storage import duplicates

DUPLICATES = "incident-duplicates"


def duplicates_panel(backend, inc: dict, scope: str | None) -> html.Section | None:
    """The section, or None when nothing nearby looks like a duplicate (or storage fails: the
    rest of the page still shows)."""
    try:
        found = backend.run(duplicates.possible_duplicates, inc, scope=scope)
    except Exception:  # noqa: BLE001 - a hint, not the page
        return None
    if not found:
        return None
    head = html.Tr(
        [
            html.Th(L.t(*h))
            for h in (
                ("事项", "incident"),
                ("标题", "title"),
                ("距离", "distance"),
                ("相隔", "apart"),
                ("状态", "status"),
            )
        ]
    )
    lines = [head]
    for row in found:
        lines.append(
            html.Tr(
                [
                    html.Td(dcc.Link(row["incident_id"], href=f"/incidents/{row['incident_id']}")),
                    html.Td(row["title"]),
                    html.Td(f"{row['distance_m']:.0f} m", className="dup-distance"),
                    html.Td(f"{row['hours_apart']:.1f} h"),
                    html.Td(L.pair(L.STATUS, row["status"])),
                ],
                **{"data-incident": row["incident_id"]},
            )
        )
    return html.Section(
        [
            html.H2(L.t("可能重复", "possible duplicates")),
            html.P(
                L.t(
                    "同类事项，50 米内、72 小时内上报",
                    "same category, within 50 m and 72 h",
                ),
                className="note",
            ),
            html.Table(lines, className="grid-table"),
        ],
        id=DUPLICATES,
        className="duplicates",
    )
