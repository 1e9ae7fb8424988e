"""并单 (streams/incidents/merge.py), as tables: who may merge and which merges are refused (with
the field the refusal is about), what the merge does to both incidents, the callback it keeps for
the merged reports' reporters, a redelivery, and the engine storing both incidents."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from cityops.streams.incidents import merge as m
from cityops.streams.incidents import out, rows
from cityops.streams.incidents.logic import step
from cityops.streams.incidents.loop import callback_for
from cityops.streams.incidents.model import Chain, Rejection, TaskNotice
from cityops.streams.kafka import partition_for
from tests.unit.streams.builders import (
    POLICY,
    STREET,
    T0,
    a_report,
    an_action,
    an_engine,
    an_incident,
    moved,
)

DESK = "desk_320105"
AT = T0 + timedelta(hours=1)


def pair():
    """A: a hotline report (callback channel) with one repeat; B: a grid patrol's (no callback)."""
    a = an_incident(department="hotline12345", channel="hotline")
    a, _, _ = step(a, a_report(), T0 + timedelta(minutes=5), POLICY)
    b = an_incident(department="grid_inspect", channel="grid_patrol")
    assert a.repeat_count == 1 and a.id != b.id and a.chain.key == b.chain.key == STREET
    return a, b


def merging(a, into_id, department=DESK, sender=None, **kw):
    return an_action("merge", a, department, into=into_id, sender=sender, at=AT, **kw)


def elsewhere(inc, district, street):
    return msgspec.structs.replace(
        inc, id=f"{street}-{inc.id.split('-')[1]}", chain=Chain(district=district, street=street)
    )


def closed(inc):
    return msgspec.structs.replace(inc, status="closed")


# name -> (A, B, action changes) and the refusal's start and path
def _cases():
    a, b = pair()
    other_district = elsewhere(b, "320102", "320102001")
    other_street = elsewhere(b, "320105", "320105002")
    return {
        "into itself": (a, a, merging(a, a.id), "cannot merge", "data.into"),
        "unknown incident": (None, b, merging(a, b.id), "unknown incident", "data.incident_id"),
        "unknown target": (a, None, merging(a, f"{STREET}-ffff"), "unknown incident", "data.into"),
        "a handling department": (a, b, merging(a, b.id, "urban_mgmt"),
                                  "merge only by the dispatch desk", "data.department"),
        "another district's desk": (a, b, merging(a, b.id, "desk_320102"),
                                    '"desk_320102" acts only on', "data.department"),
        "in another department's name": (a, b, merging(a, b.id, DESK, sender="urban_mgmt"),
                                         "data.department", "data.department"),
        "into another district": (a, other_district, merging(a, other_district.id),
                                  '"desk_320105" acts only on incidents of district 320105',
                                  "data.into"),
        "into an unknown incident of another district": (
            a, None, merging(a, "320102001-abcd"), "\"desk_320105\" acts only", "data.into"),
        "across streets": (a, other_street, merging(a, other_street.id), "merge across streets",
                           "data.into"),
        "a closed incident": (closed(a), b, merging(a, b.id), "merge of a closed incident",
                              "data.incident_id"),
        "an already merged incident": (
            msgspec.structs.replace(a, merged_into=b.id, status="closed"), b, merging(a, b.id),
            "was already merged", "data.incident_id"),
        "into a closed incident": (a, closed(b), merging(a, b.id), "merge into a closed",
                                   "data.into"),
        "into a resolved incident": (a, moved(b, "accept", "resolve"), merging(a, b.id),
                                     "merge into a resolved", "data.into"),
        "into a merged incident": (
            a, msgspec.structs.replace(b, merged_into="x", status="closed"), merging(a, b.id),
            "merge into", "data.into"),
        "different categories": (a, msgspec.structs.replace(b, category="garbage"),
                                 merging(a, b.id), "merge of different categories", "data.into"),
    }  # fmt: skip


CASES = _cases()


@pytest.mark.parametrize("name", CASES)
def test_refused_merges(name):
    a, b, item, reason, path = CASES[name]
    result = m.merge_step(a, b, item, AT, POLICY)
    assert isinstance(result, Rejection), result
    assert reason in result.reason and result.path == path, result


def test_a_merge_closes_one_and_hands_its_reports_to_the_other():
    a, b = pair()
    assert callback_for(b, POLICY) is None  # a grid patrol's report: nobody to call back
    result = m.merge_step(a, b, merging(a, b.id, comment="同一处"), AT, POLICY)
    assert not isinstance(result, Rejection) and result is not None
    (merged, t_merged, out), (kept, t_kept, _) = result
    assert (merged.status, merged.merged_into, merged.closed_at) == ("closed", b.id, AT)
    assert all(t.status == "released" for t in merged.tasks)
    assert {(n.kind, n.reason) for n in out if isinstance(n, TaskNotice)} == {
        ("released", f"merged into {b.id}")
    }
    [t] = t_merged
    assert (t.kind, t.to_status, t.department, t.actor) == ("merged", "closed", DESK, "officer-7")
    assert t.reason == f"merged into {b.id} 同一处"
    assert kept.repeat_count == 2 and kept.status == b.status
    assert kept.repeat_ids[-2:] == [a.opened_by, a.repeat_ids[0]]
    assert kept.merged_from == [a.id] and kept.merged_callers == [("hotline12345", "hotline")]
    [t] = t_kept
    assert (t.kind, t.reason) == ("merged_from", f"{a.id} merged in (2 reports) 同一处")
    assert callback_for(kept, POLICY) == "hotline12345"  # the merged reporter keeps a callback
    resolved = moved(kept, "accept", "resolve", at=AT)
    assert resolved.callback_task is not None and resolved.callback == "pending"
    # a redelivered merge: nothing more
    assert m.merge_step(merged, kept, merging(a, b.id, id=t.event_id), AT, POLICY) is None


def test_merges_chain_their_callers_once():
    a, b = pair()
    c = an_incident(department="hotline12345", channel="app")
    (_, _, _), (b2, _, _) = m.merge_step(a, b, merging(a, b.id), AT, POLICY)
    (_, _, _), (c2, _, _) = m.merge_step(b2, c, merging(b2, c.id), AT, POLICY)
    # c's own report, b's opening report and a's two reports that b had taken over
    assert c2.repeat_count == 3 and m.reports_of(c2) == 4
    assert c2.merged_from == [b.id]
    assert c2.merged_callers == [("grid_inspect", "grid_patrol"), ("hotline12345", "hotline")]


def test_the_engine_stores_both_incidents_or_rejects():
    a, b = pair()
    tree = msgspec.structs.replace(an_incident(), id=f"{STREET}-0000", category="tree_fall")
    engine = an_engine({a.id: a, b.id: b, tree.id: tree}, {})
    p = partition_for(STREET, 4)
    engine.apply(p, [merging(a, tree.id)])
    assert engine.rejected == 1 and not engine._incidents  # different categories: no change
    engine.apply(p, [merging(a, b.id)])
    assert engine.incident(a.id).merged_into == b.id and engine.incident(a.id).status == "closed"
    assert engine.incident(b.id).repeat_count == 2 and engine.rejected == 1
    assert set(engine._incidents) == {a.id, b.id}


class Rows:
    """A writer that keeps the rows per table."""

    pending = 0

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple]] = {}

    def add(self, table, row) -> None:
        self.rows.setdefault(table, []).append(row)


def test_the_merged_incidents_row_and_change_message_name_the_survivor():
    """What the measures read to leave a merged duplicate out (storage/measures.py COUNTED)."""
    a, b = pair()
    engine = an_engine({a.id: a, b.id: b}, {})
    engine.writer, engine.outbox = Rows(), Messages()
    engine.apply(partition_for(STREET, 4), [merging(a, b.id)])
    stored = {
        row["incident_id"]: row
        for row in (rows.as_dict("incidents", r) for r in engine.writer.rows["incidents"])
    }
    assert (stored[a.id]["merged_into"], stored[a.id]["status"]) == (b.id, "closed")
    assert stored[b.id]["merged_into"] == ""
    changed = {
        m["subject"]: m["data"] for m in map(msgspec.json.decode, engine.outbox.values)
        if m["type"] == out.CHANGED_TYPE
    }  # fmt: skip
    assert (changed[a.id]["merged_into"], changed[b.id]["merged_into"]) == (b.id, "")


class Messages:
    """An outbox that keeps the values it is given."""

    def __init__(self) -> None:
        self.values: list[bytes] = []

    def add(self, topic, partition, key, value, headers=None) -> bool:
        self.values.append(value)
        return True


def test_a_later_report_at_the_duplicates_place_goes_to_the_survivor():
    a, b = pair()
    chain = Chain(district="320105", street=STREET, community=a.chain.community,
                  grid=a.chain.grid, micro_grid="3201050010010102")  # fmt: skip
    b = msgspec.structs.replace(b, chain=chain)
    engine = an_engine({a.id: a, b.id: b}, {})
    p = partition_for(STREET, 4)
    engine.apply(p, [merging(a, b.id)])
    again = a_report(at=AT + timedelta(hours=1))  # a's micro-grid and category: a's place
    engine.apply(p, [again])
    assert engine.incident(a.id).status == "closed" and engine.incident(a.id).reopened == 0
    assert engine.incident(b.id).repeat_count == 3  # a's two reports, then this one
    assert engine.incident(b.id).repeat_ids[-1] == again.id


def test_surviving_follows_merges():
    a, b = pair()
    c = msgspec.structs.replace(b, id=f"{STREET}-c")
    known = {
        a.id: msgspec.structs.replace(a, merged_into=b.id),
        b.id: msgspec.structs.replace(b, merged_into=c.id),
        c.id: c,
    }
    assert m.surviving(known[a.id], known.get) is c
    assert m.surviving(c, known.get) is c and m.surviving(None, known.get) is None
    lost = msgspec.structs.replace(a, merged_into="gone")
    assert m.surviving(lost, known.get) is lost
