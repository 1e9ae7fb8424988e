"""Sensor rules and silent feeds as pure steps over small states (one per (department, sensor,
rule) and one per feed): `rule_step(rule, state, value, at)` and `beat`/`feed_tick` return the new
state and the alarm to raise, if any. Times are Unix seconds: for rules a reading's own time on
the engine clock (so `for_seconds` is reading time), for feeds real time (when events arrived).
The readings agent (agent.py) keeps the states in Faust tables and publishes the alarms as
reports (alarm_events.py).
"""

from __future__ import annotations

import msgspec

from cityops.streams.readings.rules import Feed, Rule


class RuleState(msgspec.Struct, array_like=True, omit_defaults=True, gc=False):
    """One (department, sensor, rule). `since`: when the condition began to hold (None: it
    does not); `raised`: the episode's start once an alarm is raised (None: none); `peak`: the worst
    value of the episode, `told`/`told_at`: the worst value the incident was told and when."""

    since: float | None = None
    raised: float | None = None
    peak: float = 0.0
    told: float = 0.0
    told_at: float = 0.0
    last: float = 0.0  # the latest reading time applied (an older reading changes nothing)


class FeedState(msgspec.Struct, array_like=True, omit_defaults=True, gc=False):
    """One department's feed: its last event time and, while silent, since when."""

    last_seen: float
    silent_since: float | None = None  # None: not silent; else the last event before the silence


class Alarm(msgspec.Struct, frozen=True, gc=False):
    step: str  # "raised" | "peak" | "cleared"
    value: float
    at: float  # when it was decided (a reading's time, or a tick's)
    episode: float  # the episode's start: with the rule and sensor it names the alarm's events


def rule_step(rule: Rule, state: RuleState | None, value: float, at: float):
    """(new state, Alarm | None) after one reading of the rule's metric."""
    s = state or RuleState()
    if at < s.last:
        return s, None  # out of order: the state already moved past it
    if s.raised is None:
        if not rule.breached(value):
            return RuleState(last=at), None  # condition broken: the duration starts over
        since = at if s.since is None else s.since
        if at - since < rule.for_seconds:
            return RuleState(since=since, last=at), None
        raised = RuleState(since, since, value, value, at, at)
        return raised, Alarm("raised", value, at, since)
    if rule.cleared(value):
        # Past the clear level (hysteresis): the episode ends. Between threshold and clear
        # nothing happens, so a value flapping around the threshold neither clears nor
        # raises again.
        return RuleState(last=at), Alarm("cleared", value, at, s.raised)
    peak = value if rule.worse(value, s.peak) else s.peak
    if rule.worse(peak, s.told) and at - s.told_at >= rule.peak_every_seconds:
        return RuleState(s.since, s.raised, peak, peak, at, at), Alarm("peak", peak, at, s.raised)
    return RuleState(s.since, s.raised, peak, s.told, s.told_at, at), None


def beat(state: FeedState | None, at: float):
    """(new state, Alarm | None) after the feed's department sent events (latest at `at`)."""
    if state is None:
        return FeedState(at), None
    s = state
    last = max(s.last_seen, at)
    if s.silent_since is not None and at > s.silent_since:
        return FeedState(last), Alarm("cleared", at - s.silent_since, at, s.silent_since)
    return FeedState(last, s.silent_since), None


def feed_tick(feed: Feed, state: FeedState | None, now: float):
    """(new state, Alarm | None) at a clock tick. A feed never heard from is not watched yet
    (it has no `since`); a silent one raises once, not once per missed beat."""
    if state is None or state.silent_since is not None:
        return state, None
    silent_for = now - state.last_seen
    if silent_for < feed.silent_after_seconds:
        return state, None
    since = state.last_seen
    return FeedState(state.last_seen, since), Alarm("raised", silent_for, now, since)
