"""The claims state machine and who may do which step (streams/claims/logic.py), table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cityops.streams.claims.logic import ClaimItem, Step, apply, refusal_of

COMMUNITY = "320102001001"  # Xuanwu
OTHER_COMMUNITY = "320102001002"
ITEM = f"{COMMUNITY}-parking-1"
UNIT = "ru-320102-01"  # a Xuanwu unit
OTHER_UNIT = "ru-320102-02"
FAR_UNIT = "ru-320104-01"  # a Qinhuai unit
T0 = datetime(2026, 6, 1, 8, tzinfo=UTC)
_n = iter(range(10_000))


def step(verb: str, **fields) -> Step:
    defaults = {"community": COMMUNITY} if verb in ("item", "confirm") else {"unit_id": UNIT}
    if verb == "item":
        defaults |= {"category": "parking", "title": "停车难"}
    return Step(
        event_id=f"e{next(_n)}", verb=verb, item_id=ITEM, at=T0 + timedelta(hours=next(_n)),
        **(defaults | fields),
    )  # fmt: skip


def played(*verbs: str) -> ClaimItem | None:
    item = None
    for verb in verbs:
        accepted = {"accepted": True} if verb == "confirm" else {}
        outcome = apply(step(verb, **accepted), item)
        assert outcome.refusal is None, outcome.refusal
        item = outcome.item
    return item


@pytest.mark.parametrize(
    ("history", "next_step", "status"),
    [
        ((), step("item"), "published"),
        (("item",), step("take"), "claimed"),
        (("item", "take"), step("progress", percent=40), "in_progress"),
        (("item", "take"), step("done"), "done"),
        (("item", "take", "progress"), step("progress"), "in_progress"),
        (("item", "take", "progress"), step("done"), "done"),
        (("item", "take", "done"), step("confirm", accepted=True), "confirmed"),
        (("item", "take", "done"), step("confirm", accepted=False), "in_progress"),
    ],
)
def test_allowed_moves(history, next_step, status):
    outcome = apply(next_step, played(*history))
    assert outcome.refusal is None
    assert outcome.item is not None and outcome.item.status == status
    assert outcome.transition is not None
    assert outcome.transition.to_status == status
    assert outcome.transition.seq == len(history) + 1


@pytest.mark.parametrize(
    ("history", "bad_step", "reason"),
    [
        ((), step("take"), "no published item"),
        ((), step("confirm", accepted=True), "no published item"),
        (("item",), step("item"), "already published"),
        (("item",), step("progress"), "not allowed while item"),
        (("item",), step("done"), "not allowed while item"),
        (("item",), step("confirm", accepted=True), "not allowed while item"),
        (("item", "take"), step("take", unit_id=OTHER_UNIT), "not allowed while item"),
        (("item", "take"), step("confirm", accepted=True), "not allowed while item"),
        # a unit of another district
        (("item",), step("take", unit_id=FAR_UNIT), "claims only items of its district"),
        # a unit acting on an item another unit claimed
        (("item", "take"), step("progress", unit_id=OTHER_UNIT), "only the claiming unit"),
        (("item", "take"), step("done", unit_id=OTHER_UNIT), "only the claiming unit"),
        # another community confirming
        (("item", "take", "done"), step("confirm", community=OTHER_COMMUNITY, accepted=True),
         "only it confirms"),
        (("item", "take", "done", "confirm"), step("progress"), "not allowed while item"),
        (("item", "take", "done", "confirm"), step("confirm", accepted=False),
         "not allowed while item"),
    ],
)  # fmt: skip
def test_refused_moves_change_nothing(history, bad_step, reason):
    before = played(*history)
    outcome = apply(bad_step, before)
    assert outcome.refusal is not None and reason in outcome.refusal
    assert outcome.item is None and outcome.transition is None
    assert refusal_of(bad_step, before) == outcome.refusal


def test_a_redelivered_step_is_applied_once():
    item = played("item")
    take = step("take")
    first = apply(take, item)
    assert first.item is not None and first.item.status == "claimed"
    again = apply(take, first.item)
    assert again.item is None and again.refusal is None and again.transition is None


def test_sent_back_counts_and_clears_done():
    item = played("item", "take", "done")
    back = apply(step("confirm", accepted=False), item).item
    assert back is not None
    assert (back.status, back.sent_back, back.done_at) == ("in_progress", 1, None)
    assert back.unit_id == UNIT  # the same unit works on


def test_the_state_given_is_not_changed():
    item = played("item", "take")
    assert item is not None
    apply(step("done"), item)
    assert item.status == "claimed" and len(item.seen) == 2
