"""The wall's scenes and their rotation (pure decisions plus the pinned scene's small file).

Scenes: the city overview, one district in turn, the supervision board, the sensor board. The
browser rotates them itself (every wall shows the same scene at the same time: the scene is a
function of the clock and the dwell), so rotating costs no request and the kiosk session, which
may load only `/` and the Dash endpoints behind it, keeps working. During an emergency an operator
pins one scene: every wall shows it and the rotation stops until it is unpinned. The pin lives in
`$CITYOPS_HOME/wall-pin.json` (0600), read by the dashboard's single process.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from cityops.private_files import write_private

SCENES = ("city", "district", "supervision", "sensors")
# The rotation when none is configured. The supervision scene is the kiosk-safe summary (counts
# per level and district, pages/supervision_scene.py), not the /supervision page.
DEFAULT_SCENES = ("city", "district", "supervision", "sensors")
SCENE_LABELS = {
    "city": ("全市总览", "city overview"),
    "district": ("区县轮播", "district in turn"),
    "supervision": ("督办看板", "supervision board"),
    "sensors": ("感知监测", "sensor board"),
}
MIN_DWELL = 5.0


def parse_scenes(text: str) -> tuple[str, ...]:
    """`CITYOPS_WALL_SCENES` ("city,district,sensors"): the known names in the given order;
    an unknown name is a clear error, an empty text means DEFAULT_SCENES."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in SCENES]
    if unknown:
        raise ValueError(f"unknown wall scene(s) {unknown}; known: {', '.join(SCENES)}")
    return names or DEFAULT_SCENES


def scene_at(
    now: float, dwell: float, scenes: tuple[str, ...], n_districts: int, pinned: str | None = None
) -> tuple[str, int]:
    """(scene, district index) shown at `now`. A pinned scene wins; otherwise scenes follow
    each other every `dwell` seconds and the district scene shows the next district at each of
    its turns. The browser computes the same in cityops.js (`wallScene`)."""
    dwell = max(MIN_DWELL, dwell)
    slot = int(now // dwell)
    turn = slot // max(1, len(scenes))
    district = turn % n_districts if n_districts else 0
    if pinned in scenes:
        return pinned, district
    return scenes[slot % len(scenes)], district


def may_pin(user) -> bool:
    """Who may pin a scene or unpin it: a signed-in admin or city-wide officer. Kiosk sessions
    and anonymous clients have no user; a district officer's scope is one district, not the
    city's wall."""
    return user is not None and (user.role == "admin" or not getattr(user, "district", None))


@dataclass(frozen=True)
class Pin:
    scene: str | None
    by: str = ""
    at: float = 0.0


class ScenePin:
    """The pinned scene, kept in a small private file so a restarted dashboard keeps it."""

    def __init__(self, home: Path | None):
        self.path = Path(home) / "wall-pin.json" if home else None
        self._pin = Pin(None)
        self._mtime: int | None = None

    def get(self) -> Pin:
        if self.path is None:
            return self._pin
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return Pin(None)
        if mtime != self._mtime:
            try:
                raw = json.loads(self.path.read_text())
                scene = raw.get("scene")
                self._pin = Pin(scene if scene in SCENES else None, str(raw.get("by", "")),
                                float(raw.get("at", 0)))  # fmt: skip
            except (OSError, ValueError, AttributeError):
                self._pin = Pin(None)
            self._mtime = mtime
        return self._pin

    def set(self, scene: str | None, by: str) -> Pin:
        if scene is not None and scene not in SCENES:
            raise ValueError(f"unknown wall scene {scene!r}")
        pin = Pin(scene, by, time.time())
        self._pin = pin
        if self.path is not None:
            write_private(self.path, json.dumps({"scene": scene, "by": by, "at": pin.at}))
            self._mtime = None
        return pin
