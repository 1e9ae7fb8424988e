"""The fault matrix, shortened (`cityops bench chaos --quick --durable`): steady acknowledged
load while a worker is SIGKILLed twice, its intake bridge alone once, ClickHouse once for 10 s, a
second worker joins and leaves, and the durable broker is SIGKILLed once. Per kind: no
acknowledged event lost, no incident whose stored state disagrees with a replay of its events, no
duplicate in a deduplicated read (FINAL), and the kind recovered (new events stored again). Raw
duplicates (count() − uniqExact before merges) are reported, not gated."""

from __future__ import annotations

import pytest

from cityops.bench.chaos import QUICK, print_rows, run_matrix

KINDS = list(QUICK)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> dict[str, dict]:
    result = run_matrix(KINDS, quick=True, seed=1, durable=True, home=tmp_path_factory.mktemp("c"))
    print_rows(result)  # the numbers, in the report of any failing kind
    return {row["kind"]: row for row in result["rows"]}


@pytest.mark.timeout(900)  # the first test runs the whole matrix (its fixture): 4-8 min
@pytest.mark.parametrize("kind", KINDS)
def test_fault_kind_loses_nothing_and_keeps_incident_states(matrix, kind):
    row = matrix[kind]
    assert not row["note"], row
    assert row["faults"] == QUICK[kind][0], row
    assert row["acknowledged"] > 0 and row["incidents_checked"] > 0, row
    assert row["lost"] == 0, row
    assert row["wrong_states"] == 0, row
    assert row["read_duplicates"] == 0, row
    assert row["recovery_s"] is not None, row
