"""The simulator's claims play (streams/publish/simulator/claims.py): every event it sends is
valid, plays through the claims state machine without a refusal, ends in the planned states, and
comes slowly but soon enough for a newcomer to see it on /claims."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import orjson

from cityops.schemas.events import parse_event
from cityops.schemas.registry import load_registry
from cityops.streams.claims.logic import apply
from cityops.streams.claims.rows import step_of
from cityops.streams.publish.simulator.claims import ROUND_SECONDS, ClaimsPlay

STAMP = datetime(2026, 6, 1, 8, tzinfo=UTC)


def played(seconds: float, step: float = 1.0):
    play = ClaimsPlay(7, load_registry())
    sent, t = [], 0.0
    while t <= seconds:
        sent += [(t, event) for event in play.due(t, STAMP)]
        t += step
    return sent


def test_one_round_is_valid_plays_without_refusals_and_ends_as_planned():
    registry = load_registry()
    items, first_seen, first_confirmed = {}, None, None
    sent = played(ROUND_SECONDS - 1)
    assert len({e["id"] for _, e in sent}) == len(sent)  # each step once
    for t, raw in sent:
        event = parse_event(orjson.dumps(raw), now=STAMP, registry=registry)
        step = step_of(event)
        outcome = apply(step, items.get(step.item_id))
        assert outcome.refusal is None and outcome.item is not None, (raw, outcome.refusal)
        items[step.item_id] = outcome.item
        first_seen = t if first_seen is None else first_seen
        if outcome.item.status == "confirmed" and first_confirmed is None:
            first_confirmed = t
    states = Counter((i.district, i.status) for i in items.values())
    districts = {i.district for i in items.values()}
    assert len(districts) == 11
    for district in districts:
        assert states[(district, "confirmed")] == 1
        assert states[(district, "in_progress")] == 1
        assert states[(district, "published")] == 1
    assert any(i.sent_back for i in items.values())
    assert first_seen is not None and first_seen <= 10
    assert first_confirmed is not None and first_confirmed <= 300
    assert len(sent) <= 150  # slow: about a hundred events in a ten-minute round


def test_a_new_round_follows_and_the_same_seed_repeats():
    first = [e["id"] for _, e in played(ROUND_SECONDS + 60, step=5.0)]
    assert any("r1i" in event_id for event_id in first)
    assert first == [e["id"] for _, e in played(ROUND_SECONDS + 60, step=5.0)]
