"""书记督办 as tables: the level the rule gives, never lowered, and the engine putting a matter
closed but not solved under supervision (streams/incidents/supervise.py)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from cityops.streams.incidents.logic import step
from cityops.streams.incidents.policy import PolicyError, SupervisionRule, policy_from_dict
from cityops.streams.incidents.supervise import higher, level_for
from tests.unit.streams.builders import POLICY, T0, a_report, an_action, an_incident, moved

RULE = SupervisionRule()

# (rounds, unsolved, repeats, severity) -> level
LEVELS = [
    ((0, 0, 0, 1), ""),  # never came back: no supervision, whatever else
    ((0, 0, 9, 4), ""),  # repeats on a matter never closed: the handling unit's, not a secretary's
    ((1, 0, 0, 1), "community"),
    ((1, 1, 0, 2), "community"),
    ((2, 0, 0, 1), "street"),
    ((1, 2, 0, 1), "street"),
    ((1, 0, 3, 1), "street"),
    ((1, 0, 0, 3), "street"),
    ((3, 0, 0, 1), "district"),
    ((1, 3, 0, 1), "district"),
    ((1, 0, 6, 1), "district"),
    ((1, 0, 0, 4), "district"),
    ((0, 1, 0, 1), "community"),  # an unsolved answer counts even before its reopening
]


@pytest.mark.parametrize("counts,expected", LEVELS)
def test_the_level_by_rule(counts, expected):
    rounds, unsolved, repeats, severity = counts
    got = level_for(RULE, rounds=rounds, unsolved=unsolved, repeats=repeats, severity=severity)
    assert got == expected


def test_a_measure_set_to_zero_never_raises():
    rule = SupervisionRule(street_severity=0, district_severity=0)
    assert level_for(rule, rounds=1, unsolved=0, repeats=0, severity=4) == "community"


@pytest.mark.parametrize(
    "current,wanted,expected",
    [
        ("", "community", "community"),
        ("community", "street", "street"),
        ("street", "community", "street"),  # never lowered
        ("district", "", "district"),
        ("street", "street", "street"),
    ],
)
def test_never_lowered(current, wanted, expected):
    assert higher(current, wanted) == expected


# policy.toml [supervision] -> error fragment (None: accepted)
POLICIES = [
    ({"street_rounds": 2, "district_rounds": 4}, None),
    ({"street_rounds": 3, "district_rounds": 2}, "district_rounds: 2 is below street_rounds 3"),
    ({"street_rounds": -1}, "street_rounds: a whole number >= 0"),
    ({"street_rounds": "2"}, "street_rounds: a whole number >= 0"),
    ({"street_round": 2}, "street_round: unknown key"),
]


@pytest.mark.parametrize("doc,error", POLICIES)
def test_the_policy_section(doc, error):
    if error is None:
        assert policy_from_dict({"supervision": doc}).supervision.district_rounds == 4
        return
    with pytest.raises(PolicyError, match=error):
        policy_from_dict({"supervision": doc})


def resolved(incident):
    new = moved(incident, "accept", "resolve")
    assert new.status == "resolved"
    return new


def unsolved_answer(incident, at=T0):
    answer = an_action("feedback", incident, resolved=False, satisfied=False, at=at)
    return step(incident, answer, at, POLICY)


def test_an_unsolved_callback_puts_the_matter_under_the_community_secretary():
    new, transitions, _ = unsolved_answer(resolved(an_incident()))
    assert [t.kind for t in transitions] == ["reopened", "supervised"]
    assert new.supervision == "community" and transitions[-1].to_status == "reopened"
    assert transitions[-1].reason.startswith("书记督办 community")


def test_each_round_raises_the_level_and_a_solved_close_keeps_it():
    incident = an_incident()
    levels = []
    for _ in range(3):
        incident, _, _ = unsolved_answer(resolved(incident))
        levels.append(incident.supervision)
    assert levels == ["community", "street", "district"]
    closed, transitions, _ = step(
        resolved(incident),
        an_action("feedback", resolved(incident), resolved=True, satisfied=True),
        T0,
        POLICY,
    )
    assert closed.status == "closed" and closed.supervision == "district"
    assert "supervised" not in [t.kind for t in transitions]


def test_a_repeat_complaint_after_closure_and_more_complainants_raise_it():
    closed = moved(an_incident(), "accept", "resolve")
    later = T0 + timedelta(days=1)
    again, transitions, _ = step(closed, a_report(at=later), later, POLICY)
    assert [t.kind for t in transitions][-2:] == ["reopened", "supervised"]
    assert again.supervision == "community"
    for n in range(2):  # two more complainants while it is open again: 3 repeats
        again, transitions, _ = step(again, a_report(at=later, id=f"more-{n}"), later, POLICY)
    assert again.repeat_count == 3 and again.supervision == "street"
    assert transitions[-1].kind == "supervised"


def test_a_repeat_on_a_matter_never_closed_is_no_supervision():
    incident = an_incident()
    again, transitions, _ = step(incident, a_report(id="second"), T0, POLICY)
    assert again.supervision == "" and [t.kind for t in transitions] == ["repeat_linked"]


def test_a_severe_matter_that_came_back_goes_to_the_street_secretary():
    incident = resolved(an_incident("noise", 2))
    policy = dataclasses.replace(POLICY, supervision=SupervisionRule(street_severity=2))
    answer = an_action("feedback", incident, resolved=False, satisfied=False)
    assert step(incident, answer, T0, POLICY)[0].supervision == "community"
    assert step(incident, answer, T0, policy)[0].supervision == "street"
