"""The fault matrix starts a phase's faults once its worker has stored an event of the run:
`newest_stored` must say -1 while nothing is stored, although ClickHouse's `max` over no rows is
0 (which a slow worker start turned into a bridge kill before the bridge existed)."""

from __future__ import annotations

import pytest

from cityops.bench.chaos import newest_stored
from tests.e2e.builders import an_event
from tests.optional import require

T = 1_796_000_000  # an event time (Unix seconds)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    require("chdb.session")
    from tests.unit.storage.test_queries_modern import migrated

    c = migrated(tmp_path_factory.mktemp("chdb"))
    yield c
    c.session.close()


def test_nothing_stored_is_minus_one_and_index_zero_is_zero(client):
    from tests.unit.storage.test_queries_modern import insert

    assert newest_stored(client, "db", "r1") == -1
    insert(client, "events", [an_event(id="other-7", time=T)])  # another run's event
    assert newest_stored(client, "db", "r1") == -1
    insert(client, "events", [an_event(id="r1-0", time=T)])
    assert newest_stored(client, "db", "r1") == 0
    insert(client, "events", [an_event(id="r1-12", time=T), an_event(id="r1-3", time=T)])
    assert newest_stored(client, "db", "r1") == 12
