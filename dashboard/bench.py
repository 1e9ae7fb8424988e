"""Storage benchmark of the dashboard: fills a database with N events and M incidents straight in
ClickHouse (INSERT … SELECT from numbers(), seconds not minutes) and times every query of one wall
refresh and of the drill-down pages, plus the bytes one wall refresh sends to the browser.

Generated data looks like the sample city's: `days` of history ending now, ~N/M events per
incident (its report, repeats and departments' actions), three versions per incident, most
incidents older than a day closed, joint handling for ~8%.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import replace

from storage import event_queries as eq
from storage import incident_pages as ip
from storage import search_queries as sq
from storage import wall_queries as wq
from storage.client import ClickHouseTarget, check_database_name, connect, migrate


def _arr(values) -> str:
    # literals from our own registry/taxonomy (codes and floats), never from users
    return "[" + ", ".join(repr(v) if isinstance(v, float) else f"'{v}'" for v in values) + "]"


def generate(
    client, db: str, *, events: int, incidents: int, days: int = 100, now: int | None = None
) -> dict:
    """Insert the synthetic data set; returns timings of the inserts."""
    from schemas.registry import load_registry
    from schemas.taxonomy import CATEGORIES

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


def _time(fn, runs: int) -> dict:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]
    return {"p50_ms": round(statistics.median(samples), 1), "p95_ms": round(p95, 1)}


def bench_queries(
    target: ClickHouseTarget,
    database: str,
    events: int,
    incidents: int,
    runs: int = 20,
    generate_data: bool = True,
) -> dict:
    """Generate the data set (unless told not to) and time the wall refresh and drill-down."""
    from dashboard.backend import Backend
    from dashboard.cache.incident_search import search_cached
    from dashboard.pages import wall
    from deploy.settings import Settings
    from storage import incident_state

    check_database_name(database)
    admin = connect(target, database=False)
    result: dict = {"events": events, "incidents": incidents, "runs": runs}
    if generate_data:
        admin.execute(f"DROP DATABASE IF EXISTS {database}")
        migrate(admin, database)
        result["generate"] = generate(admin, database, events=events, incidents=incidents)
    admin.disconnect()
    settings = Settings(clickhouse_url=target.with_database(database).url(), database=database)
    backend = Backend(settings)
    backend.warm()
    client, db = backend.client(), database
    now = int(time.time())
    midnight = int(wall._local_midnight(now))
    sample = client.execute(
        f"SELECT incident_id, street FROM {db}.incidents "
        "WHERE joint = 1 ORDER BY reported_at DESC LIMIT 1"
    )
    some_id, some_street = sample[0] if sample else ("320105001-0", "")
    district = some_street[:6] or "320105"
    # The incident counters, markers and joint board come from the latest-state cache: its
    # first refresh loads every incident (timed on its own), later ones read the delta.
    backend.incidents.min_interval = 0  # time every refresh's delta, none shared
    backend.events.min_interval = 0  # every refresh reads event_hours, none shared
    started = time.perf_counter()
    backend.events.refresh(today_start=midnight, now=now)
    result["event_hours_load_ms"] = round((time.perf_counter() - started) * 1000, 1)
    started = time.perf_counter()
    backend.incidents.refresh(now)
    result["snapshot_load_ms"] = round((time.perf_counter() - started) * 1000, 1)
    result["snapshot_memory_bytes"] = backend.incidents._state.memory_bytes()
    started = time.perf_counter()
    backend.incidents.reported_index.update(backend.incidents.state())
    result["search_index_ms"] = round((time.perf_counter() - started) * 1000, 1)
    wall_queries = {
        "incident_snapshot_delta": lambda: backend.incidents._apply_delta(
            backend.incidents._state, now
        ),
        # the delta as it was read before delta_heads: every row within the margin, wide
        "incident_delta_wide_read": lambda: backend.run(
            incident_state.delta_since,
            since=backend.incidents._state.watermark - backend.incidents.margin,
        ),
        "event_hours_refresh": lambda: backend.events.refresh(today_start=midnight, now=now),
        "event_counts_cached": lambda: backend.events.event_counts(today_start=midnight, now=now),
        "top_categories_cached": lambda: backend.events.top_categories(since=midnight),
        "event_counts_sql": lambda: eq.event_counts(client, db, today_start=midnight, now=now),
        "freshness": lambda: eq.freshness(client, db, now=now),
        "events_per_minute": lambda: eq.events_per_minute(client, db, now=now),
        "events_per_minute_cached": lambda: backend.events.events_per_minute(now=now),
        "top_categories_sql": lambda: eq.top_categories(client, db, since=midnight),
        "latest_events": lambda: eq.latest_events(client, db, since=now - 3600, now=now),
        "latest_transitions": lambda: eq.latest_transitions(client, db, since=now - 3600, now=now),
    }
    inc = ip.incident(client, db, some_id) or {"reported_at": now}
    week = sq.IncidentFilter(since=now - 7 * 86400, until=now + 86400)
    month = sq.IncidentFilter(since=now - 30 * 86400, until=now + 86400)
    title = replace(month, text="事项 12")

    def cached(flt, **how):
        return search_cached(backend.incidents, backend.run, flt, now=now, **how)

    drill_queries = {
        "search_incidents_7d": lambda: sq.search_incidents(
            client, db, sq.IncidentFilter(since=now - 7 * 86400, until=now + 86400)
        ),
        "search_incidents_district_open": lambda: sq.search_incidents(
            client,
            db,
            sq.IncidentFilter(
                since=now - 30 * 86400,
                until=now + 86400,
                district=district,
                statuses=("in_progress",),
            ),
        ),
        "search_cached_7d": lambda: cached(week),
        "search_cached_7d_open": lambda: cached(replace(week, statuses=("in_progress",))),
        "search_cached_district_open": lambda: cached(
            sq.IncidentFilter(
                since=now - 30 * 86400,
                until=now + 86400,
                district=district,
                statuses=("in_progress",),
            )
        ),
        "search_incidents_7d_open": lambda: sq.search_incidents(
            client, db, replace(week, statuses=("in_progress",))
        ),
        "search_incidents_text_30d": lambda: sq.search_incidents(client, db, title),
        "search_cached_text_30d": lambda: cached(title),
        "search_incidents_7d_severe": lambda: sq.search_incidents(
            client, db, replace(week, min_severity=3)
        ),
        "search_cached_7d_severe": lambda: cached(replace(week, min_severity=3)),
        "search_incidents_street_30d": lambda: sq.search_incidents(
            client, db, replace(month, street=some_street)
        ),
        "search_cached_street_30d": lambda: cached(replace(month, street=some_street)),
        # Other sort orders (every one from the cache; SQL for comparison), a first page and a
        # deep one.
        "search_cached_7d_by_severity": lambda: cached(week, sort="severity"),
        "search_cached_30d_by_status_page_40": lambda: cached(month, sort="status", offset=1000),
        "search_cached_30d_by_district_asc": lambda: cached(
            month, sort="district", descending=False
        ),
        "search_cached_7d_by_category": lambda: cached(week, sort="category"),
        "search_cached_30d_by_category_asc_page_40": lambda: cached(
            month, sort="category", descending=False, offset=1000
        ),
        "search_cached_7d_by_resolve_due": lambda: cached(week, sort="resolve_due"),
        "search_cached_30d_by_resolve_due_asc_page_40": lambda: cached(
            month, sort="resolve_due", descending=False, offset=1000
        ),
        "search_incidents_7d_by_severity": lambda: sq.search_incidents(
            client, db, week, sort="severity"
        ),
        "search_incidents_7d_by_category": lambda: sq.search_incidents(
            client, db, week, sort="category"
        ),
        "search_incidents_7d_by_resolve_due": lambda: sq.search_incidents(
            client, db, week, sort="resolve_due"
        ),
        "incident": lambda: ip.incident(client, db, some_id),
        "transitions": lambda: ip.transitions(client, db, some_id),
        "tasks": lambda: ip.tasks_of(client, db, (some_id,)),
        "incident_events": lambda: ip.incident_events(
            client, db, some_id, since=(inc["reported_at"] or now) - 86400
        ),
        "incident_events_scan": lambda: ip.incident_events_scan(
            client, db, some_id, since=(inc["reported_at"] or now) - 86400
        ),
        "district_streets": lambda: ip.district_streets(client, db, district),
        "district_severe_open": lambda: wq.severe_open(client, db, limit=200, scope=district),
        "district_severe_cached": lambda: backend.incidents.loaded_view(now).severe_open(
            limit=200, scope=district
        ),
    }
    result["wall"] = {name: _time(fn, runs) for name, fn in wall_queries.items()}
    result["wall_refresh"] = _time(lambda: wall.snapshot(backend, None, now), runs)
    result["drill_down"] = {
        name: _time(fn, max(5, runs // 2)) for name, fn in drill_queries.items()
    }
    result["refresh_bytes"] = refresh_bytes(backend, now)
    result["rows"] = {
        t: client.execute(f"SELECT count() FROM {db}.{t}")[0][0]
        for t in ("events", "incidents", "incident_transitions", "dept_tasks")
    }
    backend.reset()
    return result


def refresh_bytes(backend, now: int) -> dict:
    """Bytes of the wall callback's response: the first refresh (every panel) and a steady one
    (nothing changed but the numbers), encoded as Dash encodes them."""
    import plotly.utils

    from dashboard.pages import wall

    data = wall.snapshot(backend, None, now)
    first = wall._outputs(backend, data, now, "zh", {})
    digests = first[-1]
    steady = wall._outputs(backend, data, now, "zh", digests)

    def size(outputs) -> int:
        body = [None if o is wall.no_update else o for o in outputs]
        return len(json.dumps(body, cls=plotly.utils.PlotlyJSONEncoder).encode())

    return {"first_bytes": size(first), "steady_bytes": size(steady)}
