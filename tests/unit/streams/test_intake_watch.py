"""The bridge's read watch: stuck only when the position stands apart from the log's end, with
nothing arriving, for the whole limit."""

from __future__ import annotations

import pytest

from cityops.streams.intake_watch import ReadWatch

# (time, {partition: (position, high watermark)}, partitions that delivered, expected stuck)
STEPS = {
    "caught up": [(0, {0: (5, 5)}, [], []), (100, {0: (9, 9)}, [], [])],
    "behind, records arriving": [(0, {0: (5, 50)}, [0], []), (100, {0: (60, 90)}, [0], [])],
    "behind, nothing arriving": [
        (0, {0: (5, 50)}, [], []),
        (59, {0: (5, 50)}, [], []),
        (60, {0: (5, 50)}, [], [0]),
    ],
    "beyond the log's end": [(0, {1: (80, 21)}, [], []), (61, {1: (80, 21)}, [], [1])],
    "one record resets the clock": [
        (0, {0: (5, 50)}, [], []),
        (50, {0: (6, 50)}, [0], []),
        (100, {0: (6, 50)}, [], []),
        (110, {0: (6, 50)}, [], [0]),
    ],
    "unknown high watermark": [(0, {0: (5, None)}, [], []), (500, {0: (5, None)}, [], [])],
    "partition given away and back": [
        (0, {0: (5, 50)}, [], []),
        (30, {}, [], []),
        (70, {0: (5, 50)}, [], []),
        (129, {0: (5, 50)}, [], []),
        (130, {0: (5, 50)}, [], [0]),
    ],
}


@pytest.mark.parametrize("name", list(STEPS))
def test_stuck_partitions(name):
    watch = ReadWatch(limit=60)
    for now, states, fetched, expected in STEPS[name]:
        assert watch.stuck(now, states, fetched) == expected, (name, now)
