"""Which incident updates notify whom: table-driven over the data of city.incident.changed.v1."""

from __future__ import annotations

import pytest

from cityops.streams.notify.config import TRIGGERS, Target
from cityops.streams.notify.triggers import notifications, occurrences


def update(kinds, **fields):
    base = {
        "incident_id": "320105001-abc",
        "district": "320105",
        "severity": 2,
        "category": "road_damage",
        "level": "grid",
        "status": "dispatched",
    }
    transitions = [
        {"kind": k, "seq": i + 1, "level": fields.pop(f"level{i}", base["level"])}
        for i, k in enumerate(kinds)
    ]
    return {**base, "kinds": list(kinds), "transitions": transitions, **fields}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (update(["opened", "dispatched"], severity=4), [("extreme", "open")]),
        (update(["opened", "dispatched"], severity="extreme"), [("extreme", "open")]),
        (update(["opened", "dispatched"], severity=3), []),
        (update(["accepted"], severity=4), []),  # extreme only when it opens
        (update(["sla_breached"]), [("breached", "1")]),
        (
            update(["sla_breached", "escalated"], level1="community"),
            [("breached", "1"), ("escalated", "community")],
        ),
        (update(["escalated"], level0="street"), [("escalated", "street")]),
        (update(["opened"], category="feed_silent"), [("feed_silent", "open")]),
        (update(["accepted"], category="feed_silent"), []),
        (update(["opened"], rule="waterlogging-level"), [("rule", "open")]),
        (update(["opened"], rule=""), []),
        (update(["note"], supervision="street"), [("supervised", "street")]),
        (update(["supervised"], level0="district"), [("supervised", "district")]),
        # the engine's transition: at the incident's level, the update names the supervision
        (
            update(["reopened", "supervised"], supervision="community"),
            [("supervised", "community")],
        ),
        (update(["note"], supervision=""), []),
        (update(["accepted", "progress", "resolved", "closed", "reopened"]), []),
        (
            update(["opened"], severity=4, category="feed_silent", rule="r"),
            [("extreme", "open"), ("feed_silent", "open"), ("rule", "open")],
        ),
    ],
)
def test_occurrences(data, expected):
    assert occurrences(data) == expected


def test_kinds_alone_are_enough_when_transitions_are_missing():
    assert occurrences({"kinds": ["opened"], "severity": 4}) == [("extreme", "open")]


def target(name, on=TRIGGERS, districts=()):
    return Target("webhook", f"https://{name}", "s", tuple(on), tuple(districts), name)


def test_one_notification_per_occurrence_and_target_that_wants_it():
    targets = [
        target("all"),
        target("breaches", on=("breached",)),
        target("other-district", districts=("320102",)),
    ]
    data = update(["opened", "sla_breached", "escalated"], severity=4, level2="community")
    got = [(n.id, n.target) for n in notifications(data, targets)]
    assert got == [
        ("320105001-abc:extreme:open", "all"),
        ("320105001-abc:breached:2", "all"),
        ("320105001-abc:breached:2", "breaches"),
        ("320105001-abc:escalated:community", "all"),
    ]


def test_a_redelivered_update_gives_the_same_ids():
    data = update(["sla_breached", "escalated"], level1="street")
    first = notifications(data, [target("a")])
    assert notifications(dict(data), [target("a")]) == first


def test_a_later_escalation_is_a_new_notification():
    a = notifications(update(["escalated"], level0="community"), [target("a")])
    b = notifications(update(["escalated"], level0="street"), [target("a")])
    assert a[0].id != b[0].id


def test_no_incident_id_no_notification():
    assert notifications({"kinds": ["opened"], "severity": 4}, [target("a")]) == []
