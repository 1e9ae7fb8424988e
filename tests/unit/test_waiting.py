"""The tests' one polling helper: returns what the condition gave, fails naming what it awaited."""

from __future__ import annotations

import pytest

from tests.waiting import wait_until


def test_returns_the_first_truthy_value():
    answers = iter([None, 0, [], "ready"])
    assert wait_until(lambda: next(answers), 5, "an answer", interval=0) == "ready"


def test_names_what_it_waited_for_and_the_last_value_seen():
    with pytest.raises(AssertionError, match=r"waiting for the cache to load; last seen: 0\nlog"):
        wait_until(lambda: 0, 0.05, "the cache to load", interval=0.01, details=lambda: "log")


def test_ignored_exceptions_count_as_not_yet_and_others_propagate():
    calls = iter([ConnectionError("restarting"), 7])

    def check():
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_until(check, 5, "a number", interval=0, ignoring=(ConnectionError,)) == 7
    with pytest.raises(KeyError):
        wait_until(lambda: {}["x"], 5, "a key", interval=0, ignoring=(ConnectionError,))
    with pytest.raises(AssertionError, match="last seen: ConnectionError"):
        wait_until(lambda: (_ for _ in ()).throw(ConnectionError("down")), 0.05, "a server",
                   interval=0.01, ignoring=(ConnectionError,))  # fmt: skip


def test_calls_once_more_at_the_deadline():
    """A condition that holds once the last pause has run past the deadline still counts."""
    calls = []
    assert wait_until(lambda: calls.append(1) or len(calls) >= 2, 0.005, "2 calls", interval=0.01)
