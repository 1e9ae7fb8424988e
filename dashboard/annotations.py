"""Warning periods on the wall (pure, plus a small shared cache): who may add one, and the shading
of the events-per-minute chart (plotly shapes over the minutes the period covers)."""

from __future__ import annotations

import threading
import time

from cityops.dashboard.figures import plain
from cityops.schemas.annotations import KINDS

KIND_COLORS = {
    "weather_alert": "#4cc9f0",
    "public_event": "#b5179e",
    "works": "#f9c74f",
    "emergency": "#f94144",
    "other": "#7d8597",
}


def refusal(user, district: str | None) -> tuple[str, str] | None:
    """Why `user` may not add an annotation for `district` (None: the whole city), or None.
    Kiosk sessions and anonymous clients have no user; a district officer annotates their own
    district only (not another district, not the whole city)."""
    if user is None:
        return ("请先登录", "sign in first")
    if user.scope is not None and district != user.scope:
        return ("只能为本区添加标注", "only your own district can be annotated")
    return None


def shading(annotations: list[dict], minutes: list[int], lang: str = "zh") -> dict:
    """{"shapes", "annotations"} of the chart whose category axis is `minutes` (unix starts of
    each minute): one band per warning period over the minutes it covers, its label on top."""
    shapes: list[dict] = []
    labels: list[dict] = []
    if not minutes:
        return {"shapes": shapes, "annotations": labels}
    last_end = minutes[-1] + 60
    for row in annotations:
        if row["end"] < minutes[0] or row["start"] >= last_end:
            continue
        first = next(i for i, m in enumerate(minutes) if m + 60 > row["start"])
        last = max(i for i, m in enumerate(minutes) if m <= row["end"] or i == first)
        color = KIND_COLORS.get(row["kind"], KIND_COLORS["other"])
        # in the plot area's own fractions: numbers on a category axis became new categories
        n = len(minutes)
        x0, x1 = first / n, (last + 1) / n
        shapes.append({
            "type": "rect", "xref": "paper", "yref": "paper", "x0": x0, "x1": x1,
            "y0": 0, "y1": 1, "fillcolor": color, "opacity": 0.2, "line": {"width": 0},
            "layer": "above",  # over the bars: dense minutes would hide a band below them
        })  # fmt: skip
        kind = KINDS.get(row["kind"], KINDS["other"])
        right = x0 > 0.5  # a label near the right edge is drawn leftwards from the band's end
        labels.append({
            "xref": "paper", "yref": "paper", "x": x1 if right else x0,
            "y": 0.98 - 0.13 * (len(labels) % 6),  # one line each: labels do not overlap
            "xanchor": "right" if right else "left", "yanchor": "top", "showarrow": False,
            "font": {"color": color}, "bgcolor": "rgba(5,13,26,0.6)",
            "text": plain(f"{kind[0] if lang == 'zh' else kind[1]} · {row['label']}"),
        })  # fmt: skip
    return {"shapes": shapes, "annotations": labels}


class AnnotationCache:
    """The annotations over the last hour, read at most every `ttl` seconds for all walls."""

    def __init__(self, backend, read, ttl: float = 15.0):
        self.backend, self.read, self.ttl = backend, read, ttl
        self._lock = threading.Lock()
        self._held: dict = {}

    def get(self, now: int, scope: str | None) -> list[dict]:
        with self._lock:
            at, rows = self._held.get(scope, (0.0, None))
            if rows is not None and time.monotonic() - at < self.ttl:
                return rows
            rows = self.backend.run(self.read, since=now - 3600, until=now + 60, scope=scope)
            self._held[scope] = (time.monotonic(), rows)
            return rows

    def forget(self) -> None:
        with self._lock:
            self._held.clear()
