"""`cityops bench writes` inserts the engine's own rows, cut into inserts of about a flush's
size: every row of every commit lands in exactly one insert, in order."""

from __future__ import annotations

from cityops.bench import writes


def test_the_inserts_hold_every_row_of_the_engines_commits_once_in_order():
    events = 6_000
    inserts = writes.insert_batches(events)
    expected: dict[str, list[tuple]] = {}
    for commit in writes.engine_commits(events):
        for table, rows in commit.items():
            expected.setdefault(table, []).extend(rows)
    got: dict[str, list[tuple]] = {}
    for batch in inserts:
        for table, rows in batch.items():
            got.setdefault(table, []).extend(rows)
    assert set(got) == set(expected) >= {"events", "incidents", "incident_transitions"}
    for table, rows in expected.items():
        assert got[table] == rows, table


def test_an_insert_holds_about_a_flush_of_events():
    events = 8_000
    inserts = writes.insert_batches(events)
    # one `events` row per report; a commit of ~8,000 events cut into inserts of ~1,000
    sizes = [len(batch.get("events", ())) for batch in inserts]
    assert len(inserts) >= events // writes.INSERT_EVENTS // 2
    assert max(sizes) <= 2 * writes.INSERT_EVENTS
    assert sum(sizes) > events // 2
