"""Screen labels: Chinese first, English on the toggle. A label is rendered as two spans and the
language class on the root element (set client-side) hides one, so switching costs no round trip."""

from __future__ import annotations

from dash import html

from cityops.schemas.taxonomy import CATEGORIES, DEPARTMENTS

STATUS = {
    "reported": ("已上报", "reported"),
    "dispatched": ("已派遣", "dispatched"),
    "accepted": ("已受理", "accepted"),
    "in_progress": ("处置中", "in progress"),
    "resolved": ("已办结", "resolved"),
    "closed": ("已结案", "closed"),
    "reopened": ("重新办理", "reopened"),
    "callback_overdue": ("回访超期", "callback overdue"),
}
LEVEL = {
    "city": ("市级", "city"),
    "district": ("区级", "district"),
    "street": ("街道", "street"),
    "community": ("社区", "community"),
    "grid": ("网格", "grid"),
    "micro_grid": ("微网格", "micro-grid"),
}
CHANNEL = {
    "hotline": ("12345热线", "hotline"),
    "grid_patrol": ("网格巡查", "grid patrol"),
    "sensor": ("物联感知", "sensor"),
    "video": ("视频识别", "video"),
    "app": ("随手拍", "app"),
    "department": ("部门推送", "department"),
    "other": ("其他", "other"),
}
SEVERITY = {
    1: ("一般", "minor"),
    2: ("较大", "moderate"),
    3: ("重大", "severe"),
    4: ("特别重大", "extreme"),
}
TASK_STATUS = {
    "assigned": ("待接单", "assigned"),
    "accepted": ("已接单", "accepted"),
    "in_progress": ("处置中", "in progress"),
    "done": ("已完成", "done"),
    "released": ("已释放", "released"),
    "returned": ("已退单", "returned"),
    "overdue": ("已超期", "overdue"),
}
ROLE = {
    "lead": ("牵头", "lead"),
    "assist": ("协办", "assist"),
    "callback": ("回访", "callback"),
}


def t(zh: str, en: str, **props) -> html.Span:
    """A bilingual label."""
    return html.Span([html.Span(zh, className="zh"), html.Span(en, className="en")], **props)


def pair(table: dict, key, fallback: str | None = None) -> html.Span:
    zh, en = table.get(key, (fallback or str(key), fallback or str(key)))
    return t(zh, en)


def category(code: str) -> html.Span:
    c = CATEGORIES.get(code)
    return t(c.name_zh, c.name_en) if c else t(code or "—", code or "—")


def category_text(code: str) -> tuple[str, str]:
    c = CATEGORIES.get(code)
    return (c.name_zh, c.name_en) if c else (code, code)


def department(code: str) -> html.Span:
    d = DEPARTMENTS.get(code)
    return t(d.name_zh, d.name_en) if d else t(code or "—", code or "—")


def department_short(code: str) -> tuple[str, str]:
    d = DEPARTMENTS.get(code)
    return (d.name_zh, d.name_en) if d else (code, code)
