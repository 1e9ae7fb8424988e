"""The incident page's notification attempts (storage/notifications.py), as timeline items:
when, which trigger, to which target (by name: a target's url and secret never reach a screen),
the attempt number and its outcome."""

from __future__ import annotations

import datetime as dt

from dash import html

from cityops.dashboard import labels as L
from cityops.dashboard.backend import TZ

TRIGGER = {
    "extreme": ("特别重大事项", "extreme incident"),
    "escalated": ("事项已提级", "escalated"),
    "breached": ("事项已超时", "SLA breached"),
    "supervised": ("书记督办", "supervised"),
    "feed_silent": ("数据源中断", "feed silent"),
    "rule": ("预警规则", "early-warning rule"),
}
OUTCOME = {
    "delivered": ("已送达", "delivered"),
    "retry": ("失败，将重试", "failed, will retry"),
    "failed": ("发送失败", "failed"),
    "gave_up": ("重试用尽", "gave up"),
}


def attempt_item(a: dict) -> html.Li:
    when = dt.datetime.fromtimestamp(a["time"], TZ).strftime("%Y-%m-%d %H:%M:%S")
    code = f"HTTP {a['http_status']}" if a["http_status"] else ""
    return html.Li(
        [
            html.Span(when, className="tl-time"),
            html.Span(L.t("通知", "notification"), className="tl-kind"),
            html.Span(L.pair(TRIGGER, a["trigger"]), className="tl-status"),
            html.Span(a["target"], className="tl-dept"),
            html.Span(
                L.t(f"第 {a['attempt']} 次", f"attempt {a['attempt']}"), className="tl-level"
            ),
            html.Span(L.pair(OUTCOME, a["status"]), className=f"tl-actor notify-{a['status']}"),
            html.Span(" ".join(x for x in (code, a["error"]) if x), className="tl-reason"),
        ],
        className="tl-item tl-notification",
    )


def merged(steps: list[tuple[int, html.Li]], attempts: list[dict]) -> list[html.Li]:
    """Transitions and attempts in time order (a transition first at the same second)."""
    items = [(time, 0, n, li) for n, (time, li) in enumerate(steps)]
    items += [(a["time"], 1, n, attempt_item(a)) for n, a in enumerate(attempts)]
    return [li for *_, li in sorted(items, key=lambda item: item[:3])]
