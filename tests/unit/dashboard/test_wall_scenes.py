"""The wall's pure decisions: font scale and map fit per viewport, scene rotation and the pin,
the sensor board's thresholds, the warning periods' shading and who may add them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from cityops.dashboard import annotations as an
from cityops.dashboard import scaling, scenes
from cityops.dashboard import sensor_board as sb

NANJING = (118.36, 31.23, 119.24, 32.62)  # roughly the city's extent


@pytest.mark.parametrize(
    ("height", "scale"),
    [(1080, 1.0), (2160, 2.0), (1440, 1.35), (720, 0.75), (None, 1.0), (0, 1.0), (10_000, 4.0)],
)
def test_font_scale_follows_the_viewport_height(height, scale):
    assert scaling.scale_for(height) == scale


def _extent(view: dict, bounds, width: float, height: float) -> tuple[float, float]:
    """Share of the panel the bounds cover at the view's zoom (Web Mercator, 512-px tiles)."""
    world = scaling.TILE * 2 ** view["zoom"]
    west, south, east, north = bounds
    w = (east - west) / 360 * world
    y = lambda lat: math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))  # noqa: E731
    h = (y(north) - y(south)) / (2 * math.pi) * world
    return w / width, h / height


@pytest.mark.parametrize(("width", "height"), [(684, 788), (1370, 1579), (2000, 600), (300, 900)])
def test_the_map_fits_its_panel_whatever_its_size(width, height):
    view = scaling.fit_view(NANJING, width, height)
    share_w, share_h = _extent(view, NANJING, width, height)
    assert max(share_w, share_h) == pytest.approx(0.88, abs=0.01)  # one side filled, pad 6 %
    assert share_w <= 0.89 and share_h <= 0.89  # nothing cut off
    assert NANJING[0] < view["center"]["lon"] < NANJING[2]


def test_a_panel_twice_as_big_is_one_zoom_level_closer():
    small, big = scaling.fit_view(NANJING, 684, 788), scaling.fit_view(NANJING, 1368, 1576)
    assert big["zoom"] - small["zoom"] == pytest.approx(1.0, abs=0.01)


def test_bounds_of_features_by_id():
    geo = {"features": [
        {"id": "a", "geometry": {"type": "Polygon", "coordinates": [[[1, 2], [3, 4], [1, 4]]]}},
        {"id": "b", "geometry": {"type": "MultiPolygon",
                                 "coordinates": [[[[5, 0], [6, 1], [5, 1]]]]}},
    ]}  # fmt: skip
    assert scaling.bounds_of(geo) == (1, 0, 6, 4)
    assert scaling.bounds_of(geo, ("b",)) == (5, 0, 6, 1)
    assert scaling.bounds_of(geo, ("zzz",)) is None


def test_font_patch_doubles_fonts_and_sets_the_map_view():
    patch = scaling.font_patch("epm", 2.0).to_plotly_json()
    text = repr(patch)
    assert "28" in text and "24" in text  # font 14 → 28, ticks and legend 12 → 24
    view = {"zoom": 9.2, "center": {"lat": 32.0, "lon": 118.8}}
    assert "9.2" in repr(scaling.font_patch("map", 2.0, view).to_plotly_json())


SC = ("city", "district", "supervision", "sensors")


@pytest.mark.parametrize(
    ("now", "dwell", "pinned", "expected"),
    [
        (0, 60, None, ("city", 0)),
        (61, 60, None, ("district", 0)),
        (239, 60, None, ("sensors", 0)),
        (240, 60, None, ("city", 1)),  # the next turn shows the next district
        (300, 60, None, ("district", 1)),
        (300, 60, "sensors", ("sensors", 1)),  # a pin wins over the rotation
        (300, 60, "nonsense", ("district", 1)),  # an unknown pin is ignored
        (12, 1, None, ("supervision", 0)),  # dwell is at least 5 s: slot 2
        (11 * 240 + 61, 60, None, ("district", 0)),  # wraps over the 11 districts
    ],
)
def test_scene_rotation(now, dwell, pinned, expected):
    assert scenes.scene_at(now, dwell, SC, 11, pinned) == expected


def test_scene_names_are_checked():
    # the supervision scene is the kiosk-safe summary: in the default rotation
    assert scenes.parse_scenes("") == ("city", "district", "supervision", "sensors")
    assert scenes.parse_scenes(",".join(SC)) == SC
    assert scenes.parse_scenes(" sensors, city ") == ("sensors", "city")
    with pytest.raises(ValueError, match="unknown wall scene"):
        scenes.parse_scenes("city,cinema")


@dataclass
class U:
    name: str
    role: str
    district: str | None = None

    @property
    def scope(self):
        return self.district if self.role == "officer" else None


@pytest.mark.parametrize(
    ("user", "allowed"),
    [
        (None, False),  # kiosk sessions and anonymous clients
        (U("a", "admin"), True),
        (U("o", "officer"), True),  # a city-wide operator
        (U("x", "officer", "320102"), False),  # a district officer
    ],
)
def test_who_may_pin(user, allowed):
    assert scenes.may_pin(user) is allowed


def test_the_pin_survives_a_restart_and_ignores_a_bad_file(tmp_path):
    pin = scenes.ScenePin(tmp_path)
    assert pin.get().scene is None
    pin.set("sensors", "admin")
    assert scenes.ScenePin(tmp_path).get().scene == "sensors"
    assert (tmp_path / "wall-pin.json").stat().st_mode & 0o777 == 0o600
    (tmp_path / "wall-pin.json").write_text("{not json")
    assert scenes.ScenePin(tmp_path).get().scene is None
    with pytest.raises(ValueError):
        pin.set("cinema", "admin")


RULES = sb.thresholds(None)  # deploy/config/rules.toml


def _reading(sensor, metric, value, department="iot", time=100):
    return {"sensor_id": sensor, "metric": metric, "department": department, "value": value,
            "time": time, "district": "320102", "street": "", "micro_grid": ""}  # fmt: skip


def test_readings_over_the_rules_thresholds():
    readings = [
        _reading("w1", "water_level", 0.45),
        _reading("w2", "water_level", 0.10),
        _reading("g1", "ch4_lel", 35.0),
        _reading("g2", "ch4_lel", 35.0, department="water"),  # not a department the rule reads
        _reading("x1", "unknown_metric", 1e9),
    ]
    hits = sb.over_threshold(readings, RULES)
    assert [h["sensor_id"] for h in hits] == ["g1", "w1"]  # severity 4 first
    firing = dict((r.rule, n) for r, n in sb.rules_firing(hits, RULES))
    assert firing["waterlogging-level"] == 1 and firing["gas-concentration"] == 1
    assert firing["manhole-cover-tilt"] == 0


MINUTES = [1000 * 60 + 60 * i for i in range(60)]


@pytest.mark.parametrize(
    ("start", "end", "band"),
    [
        (MINUTES[10], MINUTES[20], (10, 21)),
        (0, MINUTES[5] + 30, (0, 6)),  # began before the hour shown
        (MINUTES[50] + 10, 10**10, (50, 60)),  # still running
        (0, MINUTES[0] - 1, None),  # over before the hour shown
        (MINUTES[-1] + 60, 10**10, None),  # not begun yet
    ],
)
def test_a_warning_period_shades_the_minutes_it_covers(start, end, band):
    row = {"start": start, "end": end, "kind": "weather_alert", "label": "<b>暴雨</b>"}
    drawn = an.shading([row], MINUTES)
    if band is None:
        assert drawn == {"shapes": [], "annotations": []}
        return
    (shape,) = drawn["shapes"]
    assert (shape["x0"] * 60, shape["x1"] * 60) == pytest.approx(band)  # minutes of the plot
    (label,) = drawn["annotations"]
    assert label["text"] == "气象预警 · &lt;b&gt;暴雨&lt;/b&gt;"  # shown as written, not as HTML


@pytest.mark.parametrize(
    ("user", "district", "refused"),
    [
        (None, None, True),
        (U("a", "admin"), None, False),
        (U("a", "admin"), "320105", False),
        (U("o", "officer"), "320105", False),
        (U("x", "officer", "320102"), "320102", False),
        (U("x", "officer", "320102"), "320105", True),  # another district
        (U("x", "officer", "320102"), None, True),  # the whole city
    ],
)
def test_who_may_annotate(user, district, refused):
    assert (an.refusal(user, district) is not None) is refused
