"""The supervisor's restart policy (CONTRACT §10): back-off, crash-loop limit, reported state."""

from __future__ import annotations

import pytest

from cityops.deploy.supervision import RestartPolicy, decide, service_state

POLICY = RestartPolicy(base=1.0, cap=30.0, max_exits=5, window=120.0)


@pytest.mark.parametrize(
    "exits, now, action, delay",
    [
        ([100.0], 100.0, "restart", 1.0),  # first exit: shortest back-off
        ([100.0, 101.0], 101.0, "restart", 2.0),
        ([100.0, 101.0, 103.0], 103.0, "restart", 4.0),
        ([100.0, 101.0, 103.0, 107.0], 107.0, "restart", 8.0),
        ([0.0, 10.0, 20.0, 30.0, 40.0], 40.0, "give_up", 0.0),  # 5 exits in 2 minutes
        ([0.0, 20.0, 30.0, 40.0, 125.0], 125.0, "restart", 8.0),  # the first fell out of window
        ([0.0, 200.0], 200.0, "restart", 1.0),  # ran quietly: back to the shortest back-off
        ([0.0, 119.9, 119.95, 119.99, 119.999], 119.999, "give_up", 0.0),
    ],
)
def test_decide(exits, now, action, delay):
    decision = decide(exits, now, POLICY)
    assert (decision.action, decision.delay) == (action, delay)


@pytest.mark.parametrize("count, delay", [(1, 1.0), (5, 16.0), (6, 30.0), (9, 30.0)])
def test_back_off_is_capped(count, delay):
    policy = RestartPolicy(max_exits=100)
    exits = [float(i) for i in range(count)]
    assert decide(exits, exits[-1], policy).delay == delay


@pytest.mark.parametrize(
    "recorded, alive, supervised, shown",
    [
        ("up", True, True, "up"),
        ("up", False, True, "restarting"),  # died a moment ago: the supervisor is on it
        ("restarting", True, True, "restarting"),  # started, not answering yet
        ("restarting", False, True, "restarting"),
        ("down", False, True, "down"),  # given up
        ("up", False, False, "down"),  # nobody restarts it: the file's "up" is stale
        ("restarting", False, False, "down"),
        ("up", True, False, "up"),
        (None, True, False, "up"),  # a state file without states (an older stack)
        (None, False, False, "down"),
    ],
)
def test_service_state(recorded, alive, supervised, shown):
    assert service_state(recorded, alive, supervised) == shown
