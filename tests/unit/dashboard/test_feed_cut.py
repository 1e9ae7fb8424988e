"""Which wall elements a silent feed cuts off (pure): a department's own feed cuts all its
readings; a metric group that metric; a prefix group only its sensors (not a whole rule); a rule
is cut off only when every department it reads is."""

from __future__ import annotations

from datetime import datetime

import pytest

from cityops.dashboard.backend import TZ
from cityops.dashboard.feeds import cut_off_label, rule_silent_since, silent_since

T1, T2 = datetime(2026, 12, 6, 6, 5), datetime(2026, 12, 6, 7, 30)

READINGS = {
    "department feed: any metric": ([("iot", T1)], ("iot", "ch4_lel", "GAS-1"), T1),
    "another department's feed": ([("video", T1)], ("iot", "ch4_lel", "GAS-1"), None),
    "metric group: its metric": ([("iot/water_level", T1)], ("iot", "water_level", "WL-1"), T1),
    "metric group: not another": ([("iot/water_level", T1)], ("iot", "ch4_lel", "GAS-1"), None),
    "prefix group: its sensor": ([("iot/WL-JY-*", T1)], ("iot", "water_level", "WL-JY-1"), T1),
    "prefix group: not another": ([("iot/WL-JY-*", T1)], ("iot", "water_level", "WL-QH-1"), None),
    "prefix group: not a whole metric": ([("iot/WL-JY-*", T1)], ("iot", "water_level", None), None),
    "two feeds: the earliest": (
        [("iot", T2), ("iot/water_level", T1)],
        ("iot", "water_level", "WL-1"),
        T1,
    ),
}


@pytest.mark.parametrize(("silent", "reading", "since"), READINGS.values(), ids=READINGS.keys())
def test_which_readings_a_silent_feed_cuts_off(silent, reading, since):
    assert silent_since(silent, *reading) == since


RULES = {
    "its one department cut off": ([("iot", T1)], ("iot",), T1),
    "its metric group cut off": ([("iot/water_level", T1)], ("iot",), T1),
    "one of two departments still reports": ([("iot", T1)], ("iot", "water"), None),
    "both cut off: since the later": ([("iot", T1), ("water", T2)], ("iot", "water"), T2),
    "only a prefix group": ([("iot/WL-JY-*", T1)], ("iot",), None),
}


@pytest.mark.parametrize(("silent", "departments", "since"), RULES.values(), ids=RULES.keys())
def test_a_rule_is_cut_off_when_every_department_it_reads_is(silent, departments, since):
    assert rule_silent_since(silent, "water_level", departments) == since


def test_the_mark_is_in_local_time():
    assert cut_off_label(T1, TZ) == ("数据源中断 自 14:05", "feed silent since 14:05")
