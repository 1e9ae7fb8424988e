"""`cityops bench storage`: the dashboard's queries on a generated data set (bench/storage_data.py)
— every query of one wall refresh and of the drill-down pages, timed p50/p95, plus the bytes one
wall refresh sends to the browser. `bench_queries(target, database, events, incidents)` is the
suite at one size.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import replace

from cityops.bench.storage_data import generate
from cityops.storage import event_queries as eq
from cityops.storage import incident_pages as ip
from cityops.storage import search_queries as sq
from cityops.storage import wall_queries as wq
from cityops.storage.client import ClickHouseTarget, check_database_name, connect, migrate


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
    from cityops.dashboard.backend import Backend
    from cityops.dashboard.cache.incident_search import search_cached
    from cityops.dashboard.pages import wall
    from cityops.settings import Settings
    from cityops.storage import incident_state

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

    from cityops.dashboard.pages import wall

    data = wall.snapshot(backend, None, now)
    first = wall._outputs(backend, data, now, "zh", {})
    digests = first[-1]
    steady = wall._outputs(backend, data, now, "zh", digests)

    def size(outputs) -> int:
        body = [None if o is wall.no_update else o for o in outputs]
        return len(json.dumps(body, cls=plotly.utils.PlotlyJSONEncoder).encode())

    return {"first_bytes": size(first), "steady_bytes": size(steady)}


def suite(env, events=None, quick=False) -> dict:
    if events:
        sizes = [(events, max(events // 10, 10))]
    else:
        sizes = [(50_000, 5_000)] if quick else [(1_000_000, 100_000), (10_000_000, 1_000_000)]
    runs = []
    for n_events, n_incidents in sizes:
        settings, _ = env.isolated(f"storage{n_events}")
        runs.append(bench_queries(settings.clickhouse, settings.database, n_events, n_incidents))
    return {"runs": runs}
