"""The storage suite's data set: N events and M incidents written straight in ClickHouse
(INSERT … SELECT from numbers(), seconds not minutes).

Generated data looks like the sample city's: `days` of history ending now, ~N/M events per
incident (its report, repeats and departments' actions), three versions per incident, most
incidents older than a day closed, joint handling for ~8%.

The one data set of the benchmarks not built by the simulator, on purpose: its sizes (up to 10M
events, 1M incidents and their versions, transitions and tasks) would take hours through the
simulator and the engine, and every storage result in bench/results/storage.json and
docs/dashboard.md was measured on exactly these rows. It shares the simulator's vocabulary
(registry streets and points, taxonomy categories), not its mix.
"""

from __future__ import annotations

import time

from cityops.storage.client import check_database_name


def _arr(values) -> str:
    # literals from our own registry/taxonomy (codes and floats), never from users
    return "[" + ", ".join(repr(v) if isinstance(v, float) else f"'{v}'" for v in values) + "]"


def generate(
    client, db: str, *, events: int, incidents: int, days: int = 100, now: int | None = None
) -> dict:
    """Insert the synthetic data set; returns timings of the inserts."""
    from cityops.schemas.registry import load_registry
    from cityops.schemas.taxonomy import CATEGORIES

    db = check_database_name(db)
    now = int(now or time.time())
    registry = load_registry()
    streets = [u.code for d in registry.districts() for u in registry.children(d.code)]
    points = [registry.point(code) for code in streets]
    env = {
        "M": incidents,
        "S": len(streets),
        "SPAN": days * 86400,
        "NOW": now,
        "streets": _arr(streets),
        "lats": _arr([round(p[0], 5) for p in points]),
        "lons": _arr([round(p[1], 5) for p in points]),
        "cats": _arr(list(CATEGORIES)),
        "C": len(CATEGORIES),
        "db": db,
    }
    # One row per incident i with its stable attributes; versions v = 1..3 on top.
    base = """
    SELECT i, v,
        concat(st, '-', lower(hex(cityHash64(i, 'id')))) AS iid,
        {streets}[1 + cityHash64(i, 's') % {S}] AS st,
        substring(st, 1, 6) AS dist,
        {lats}[1 + cityHash64(i, 's') % {S}]
            + (toFloat64(cityHash64(i, 'la') % 1000) - 500) / 40000 AS la,
        {lons}[1 + cityHash64(i, 's') % {S}]
            + (toFloat64(cityHash64(i, 'lo') % 1000) - 500) / 40000 AS lo,
        {cats}[1 + cityHash64(i, 'c') % {C}] AS cat,
        toUInt8(multiIf(cityHash64(i, 'v') % 100 < 55, 1, cityHash64(i, 'v') % 100 < 85, 2,
                        cityHash64(i, 'v') % 100 < 97, 3, 4)) AS sev,
        toUInt32({NOW} - pow(toFloat64(cityHash64(i, 't') % 1000000) / 1000000, 2) * {SPAN}) AS rep,
        toUInt8(cityHash64(i, 'j') % 100 < 8) AS jnt,
        multiIf({NOW} - rep < 7200, 'in_progress', cityHash64(i, 'f') % 1000 < 15, 'in_progress',
                cityHash64(i, 'f') % 1000 < 60, 'resolved', 'closed') AS final
    FROM (SELECT number % {M} AS i, intDiv(number, {M}) + 1 AS v FROM numbers({M} * 3))
    """.format(**env)
    timings = {}
    started = time.perf_counter()
    client.execute(f"""
    INSERT INTO {db}.incidents (incident_id, status, level, unit_code, owner_unit, district, street,
        community, grid, micro_grid, category, severity, title, lead_department, departments, joint,
        reported_at, accepted_at, resolved_at, closed_at, accept_due, resolve_due, escalations,
        breaches, repeat_count, reopened, satisfied, lat, lon, version, updated_at, state)
    SELECT iid, multiIf(v = 1, 'reported', v = 2, 'dispatched', final),
        multiIf(cityHash64(i, 'l') % 100 < 5, 'district', cityHash64(i, 'l') % 100 < 60, 'street',
                cityHash64(i, 'l') % 100 < 85, 'community', 'grid'),
        st, st, dist, st, '', '', '', cat, sev, concat('事项 ', toString(i), ' ', cat),
        'urban_mgmt', if(jnt = 1, ['urban_mgmt', 'water', 'power'], ['urban_mgmt']), jnt,
        toDateTime(rep), toDateTime(rep + 600), CAST(NULL AS Nullable(DateTime)),
        CAST(NULL AS Nullable(DateTime)), toDateTime(rep + 1800), toDateTime(rep + 86400),
        toUInt16(cityHash64(i, 'e') % 100 < 4), toUInt16(v = 3 AND cityHash64(i, 'b') % 100 < 6),
        toUInt32(cityHash64(i, 'r') % 100 < 12), toUInt16(0),
        CAST(NULL AS Nullable(UInt8)), la, lo, toUInt32(v),
        toDateTime(least({now}, rep + v * 900)), ''
    FROM ({base})
    """)
    timings["incidents_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    client.execute(f"""
    INSERT INTO {db}.incident_transitions (incident_id, seq, at, kind, from_status, to_status,
        level, unit_code, department, actor, reason, event_id)
    SELECT iid, toUInt32(v), toDateTime(least({now}, rep + v * 900)),
        ['opened', 'dispatched', 'changed'][v], ['', 'reported', 'dispatched'][v],
        multiIf(v = 1, 'reported', v = 2, 'dispatched', final), 'street', st, 'urban_mgmt', '', '',
        concat('ev-', toString(i))
    FROM ({base})
    """)
    client.execute(f"""
    INSERT INTO {db}.dept_tasks (incident_id, department, role, status, assigned_at, accepted_at,
        done_at, version, updated_at)
    SELECT iid, ['urban_mgmt', 'water', 'power'][v], if(v = 1, 'lead', 'assist'),
        if(final = 'closed', 'done', 'accepted'), toDateTime(rep + 600),
        CAST(NULL AS Nullable(DateTime)), CAST(NULL AS Nullable(DateTime)), toUInt32(1),
        toDateTime(rep + 600)
    FROM ({base}) WHERE v = 1 OR jnt = 1
    """)
    timings["transitions_tasks_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    # Events: event k belongs to incident k % M and happens within an hour of its report.
    client.execute(f"""
    INSERT INTO {db}.events (id, type, source, department, time, received_at, district, street,
        community, grid, micro_grid, category, severity, channel, title, incident_id, payload)
    SELECT concat('ev-', toString(number)) AS id,
        if(number < {incidents} OR cityHash64(number, 'ty') % 100 < 60, 'city.report.v1',
           'city.incident.progress.v1') AS ty,
        '/departments/hotline12345', 'hotline12345', toDateTime(tm), toDateTime(tm + 1),
        dist, st, '', '', '', cat, sev,
        ['hotline', 'grid_patrol', 'sensor', 'video', 'app', 'department']
            [1 + cityHash64(number, 'ch') % 6],
        concat('事项 ', toString(i), ' ', cat), iid,
        concat('{{"specversion":"1.0","id":"ev-', toString(number), '","type":"', ty,
               '","source":"/departments/hotline12345","data":{{"category":"', cat,
               '","severity":', toString(sev), ',"title":"事项 ', toString(i),
               '","location":{{"district":"', dist, '","street":"', st, '"}}}}}}')
    FROM (
        SELECT number, number % {incidents} AS i,
            concat(st, '-', lower(hex(cityHash64(i, 'id')))) AS iid,
            {env["streets"]}[1 + cityHash64(i, 's') % {env["S"]}] AS st,
            substring(st, 1, 6) AS dist,
            {env["cats"]}[1 + cityHash64(i, 'c') % {env["C"]}] AS cat,
            toUInt8(multiIf(cityHash64(i, 'v') % 100 < 55, 1, cityHash64(i, 'v') % 100 < 85, 2,
                            cityHash64(i, 'v') % 100 < 97, 3, 4)) AS sev,
            toUInt32({now}
                - pow(toFloat64(cityHash64(i, 't') % 1000000) / 1000000, 2) * {env["SPAN"]})
                AS rep,
            toUInt32(least({now},
                rep + if(number < {incidents}, 0, cityHash64(number, 'dt') % 3600)))
                AS tm
        FROM numbers({events})
    )
    """)
    timings["events_s"] = round(time.perf_counter() - started, 2)
    return timings
