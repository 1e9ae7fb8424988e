"""Closing the loop in ClickHouse (CONTRACT §11): the actual resolution and satisfaction rates per
lead department, district or street (conditions defined once in storage/measures.py), and the
returns audit (退单): per returning department, how many returns the desk upheld, reassigned,
or has still to decide. Every value a bound parameter; runs on ClickHouse 18.16 and current.
"""

from __future__ import annotations

from datetime import datetime

from cityops.storage import measures
from cityops.storage.client import check_database_name

_LATEST = """
SELECT
    argMax(lead_department, version) AS s_lead_department,
    argMax(district, version) AS s_district,
    argMax(street, version) AS s_street,
    argMax(status, version) AS s_status,
    argMax(callback, version) AS s_callback,
    argMax(unsolved, version) AS s_unsolved,
    argMax(satisfied, version) AS s_satisfied,
    argMax(merged_into, version) AS s_merged_into
FROM {db}.incidents
WHERE reported_at >= toDateTime(%(since)s)
GROUP BY incident_id
"""

_RATES = f"""
SELECT s_{{group}} AS key,
{measures.loop_counts_sql()}
FROM ({_LATEST})
GROUP BY key
ORDER BY key
"""

# Each incident's returns and decisions in transition order; the k-th decision answers the k-th
# return (a return waits for its decision before the next one is accepted).
_AUDIT = """
SELECT returned_by AS department,
    count() AS returns,
    countIf(outcome = 'return_upheld') AS upheld,
    countIf(outcome = 'reassigned') AS reassigned,
    countIf(outcome = '') AS pending
FROM (
    SELECT returned_by, i,
        if(i <= length(outcomes), outcomes[i], '') AS outcome
    FROM (
        SELECT incident_id,
            arrayMap(x -> x.2, arraySort(x -> x.1, groupArrayIf((seq, department),
                kind = 'returned'))) AS returners,
            arrayMap(x -> x.2, arraySort(x -> x.1, groupArrayIf((seq, kind),
                kind IN ('return_upheld', 'reassigned')))) AS outcomes
        FROM (
            SELECT DISTINCT incident_id, seq, kind, department
            FROM {db}.incident_transitions
            WHERE at >= toDateTime(%(since)s)
              AND kind IN ('returned', 'return_upheld', 'reassigned')
        )
        GROUP BY incident_id
    )
    ARRAY JOIN returners AS returned_by, arrayEnumerate(returners) AS i
)
GROUP BY department
ORDER BY department
"""


def loop_rates(client, database: str, group: str, since: datetime) -> list[dict]:
    """Per `group` (lead_department | district | street): the loop counters of the incidents
    reported since `since` and the two rates (None without a denominator)."""
    if group not in measures.LOOP_GROUPS:
        raise ValueError(f"group must be one of {measures.LOOP_GROUPS}, not {group!r}")
    db = check_database_name(database)
    rows = client.execute(
        _RATES.replace("{group}", group).replace("{db}", db), {"since": int(since.timestamp())}
    )
    out = []
    for key, *values in rows:
        counts = dict(zip(measures.LOOP_NAMES, values, strict=True))
        rates = {name: measures.loop_rate(counts, name) for name in measures.LOOP_RATES}
        out.append({"key": key, **counts, **rates})
    return out


def returns_audit(client, database: str, since: datetime) -> list[dict]:
    """Per department that returned tasks since `since`: returns, upheld, reassigned, pending."""
    db = check_database_name(database)
    rows = client.execute(_AUDIT.replace("{db}", db), {"since": int(since.timestamp())})
    names = ("department", "returns", "upheld", "reassigned", "pending")
    return [dict(zip(names, row, strict=True)) for row in rows]
