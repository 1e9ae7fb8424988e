"""The drill-down search's SQL (`/incidents`): filters, sorts and pages incidents in ClickHouse
(`search_incidents`), and the reads the cached search (dashboard/cache/incident_search.py) makes
(`candidates`, `page_rows`). Bound parameters only; only fixed fragments chosen from whitelists
are spliced in. All SQL runs on ClickHouse 18.16 and on current ClickHouse.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cityops.storage.client import check_database_name
from cityops.storage.latest import (
    GROUP_KEY,
    WIDE_SELECT,
    latest,
    latest_wide,
    scope_column,
    wide_rows,
)

TEXT_SEARCH_MAX_SECONDS = 30 * 86400  # title search looks back at most 30 days from `until`
SORTABLE = {
    "reported_at": "s_reported_at",
    "severity": "s_severity",
    "status": "s_status",
    "district": "s_district",
    "category": "s_category",
    "resolve_due": "s_resolve_due",
}


@dataclass(frozen=True)
class IncidentFilter:
    since: int
    until: int
    district: str | None = None
    street: str | None = None
    category: str | None = None
    statuses: tuple[str, ...] = ()
    min_severity: int | None = None
    text: str | None = None


# Narrow latest state for searching: only the columns a filter or the sort needs, so a 365-day
# search over a million incidents does not carry titles, departments and coordinates through
# the aggregation; the page's wide rows are read afterwards for its ids only.
_SEARCH_NARROW = f"""
SELECT {latest("incident_id")} AS s_id, any(district) AS s_district,
    {latest("status")} AS s_status, {latest("severity")} AS s_severity,
    {latest("reported_at")} AS s_reported_at{{extra}}
FROM {{db}}.incidents
WHERE {{where}}
GROUP BY {GROUP_KEY}
"""
_SEARCH_EXTRA = {
    sort: f", {latest(column)} AS s_{column}"
    for sort, column in (
        ("category", "category"),
        ("resolve_due", "resolve_due"),
        ("text", "title"),
    )
}


def text_bounded(flt: IncidentFilter) -> IncidentFilter:
    """A title search reads the title of every incident in its range: it looks back at most
    TEXT_SEARCH_MAX_SECONDS from the range's end."""
    if flt.text and flt.until - flt.since > TEXT_SEARCH_MAX_SECONDS:
        return replace(flt, since=flt.until - TEXT_SEARCH_MAX_SECONDS)
    return flt


def opening_terms(flt: IncidentFilter, scope: str | None) -> list[str]:
    """WHERE terms on what is fixed at an incident's opening (report time, place, category),
    so they can filter rows before any latest state is taken; values in `filter_params`."""
    where = ["reported_at >= toDateTime(%(since)s)", "reported_at < toDateTime(%(until)s)"]
    if scope:
        where.append(f"{scope_column(scope)} = %(scope)s")
    if flt.district:
        where.append("district = %(district)s")
    if flt.street:
        where.append("street = %(street)s")
    if flt.category:
        where.append("category = %(category)s")
    return where


def filter_params(flt: IncidentFilter, scope: str | None) -> dict:
    """The bound values of a search's filter."""
    return {
        "since": flt.since,
        "until": flt.until,
        "scope": scope,
        "district": flt.district,
        "street": flt.street,
        "category": flt.category,
        "statuses": tuple(flt.statuses),
        "min_severity": flt.min_severity,
        "text": flt.text,
    }


def search_incidents(
    client,
    db: str,
    flt: IncidentFilter,
    *,
    sort: str = "reported_at",
    descending: bool = True,
    offset: int = 0,
    limit: int = 25,
    scope: str | None = None,
) -> tuple[int, list[dict]]:
    """(total matching, one page) of incidents; filtering, sorting and paging in ClickHouse.
    Attributes fixed at opening (place, category, time) filter rows before the latest state is
    taken (the primary key starts with district); status, severity and title filter it after.
    (Narrowing a title search first to ids with any matching version was measured slower on
    18.16: the extra pass over `incident_id` costs more than it saves.)"""
    db = check_database_name(db)
    flt = text_bounded(flt)
    where = opening_terms(flt, scope)
    having = ["1"]
    extra = ""
    if sort in ("category", "resolve_due"):
        extra += _SEARCH_EXTRA[sort]
    if flt.statuses:
        having.append("s_status IN %(statuses)s")
    if flt.min_severity:
        having.append("s_severity >= %(min_severity)s")
    if flt.text:
        having.append("positionCaseInsensitiveUTF8(s_title, %(text)s) > 0")
        extra += _SEARCH_EXTRA["text"]
    inner = _SEARCH_NARROW.format(db=db, where=" AND ".join(where), extra=extra)
    order = SORTABLE.get(sort, "s_reported_at") + (" DESC" if descending else " ASC")
    if order.startswith("s_reported_at"):
        order += ", s_id"
    else:
        # ties in the sort column: newest first (the default sort), then incident id — the
        # order the latest-state cache reproduces (cityops.dashboard.cache.incident_search)
        order += ", s_reported_at DESC, s_id"
    params = {
        **filter_params(flt, scope),
        "offset": max(0, int(offset)),
        "limit": max(1, min(int(limit), 200)),
    }
    if having == ["1"] and sort == "reported_at":
        # Only opening attributes filter and sort: every version carries them unchanged, so no
        # latest state is needed — distinct ids for the total, the newest ids for the page.
        rows_where = " AND ".join(where)
        total = client.execute(
            f"SELECT uniqExact(incident_id) FROM {db}.incidents WHERE {rows_where}", params
        )[0][0]
        page = client.execute(
            f"SELECT incident_id, district FROM {db}.incidents WHERE {rows_where} "
            f"ORDER BY reported_at {'DESC' if descending else 'ASC'}, incident_id "
            "LIMIT 1 BY incident_id LIMIT %(offset)s, %(limit)s",
            params,
        )
    else:
        filtered = f"SELECT * FROM ({inner}) WHERE {' AND '.join(having)}"
        total = client.execute(f"SELECT count() FROM ({filtered})", params)[0][0]
        page = client.execute(
            f"SELECT s_id, s_district FROM ({filtered}) ORDER BY {order} "
            "LIMIT %(offset)s, %(limit)s",
            params,
        )
    if not page:
        return int(total), []
    # the page's wide rows by primary key (district, incident_id), in the page's order
    ids = tuple(row[0] for row in page)
    wide_where = "district IN %(districts)s AND incident_id IN %(ids)s"
    rows = client.execute(
        f"SELECT {WIDE_SELECT} FROM ({latest_wide(db, wide_where)})",
        {"districts": tuple({row[1] for row in page}), "ids": ids},
    )
    by_id = {row[0]: row for row in rows}
    return int(total), wide_rows(by_id[i] for i in ids if i in by_id)


def candidates(client, db: str, flt: IncidentFilter, *, scope: str | None = None) -> list:
    """(hash, newest matching version) of the incidents reported in the filter's range whose
    rows match its street, category and title (any version), from `incidents_by_report`."""
    db = check_database_name(db)
    where = opening_terms(flt, scope)
    if flt.text:
        where.append("positionCaseInsensitiveUTF8(title, %(text)s) > 0")
    sql = f"""
    SELECT {GROUP_KEY} AS h, {latest("version")} FROM {db}.incidents_by_report
    WHERE {" AND ".join(where)}
    GROUP BY h
    """
    return client.execute(sql, filter_params(flt, scope))


def rows_by_report(
    client, db: str, hashes: list[int], times: list[int], *, one_range: bool
) -> dict[int, tuple]:
    """hash -> wide latest row (WIDE_SELECT) of the given incidents (cityHash64 of their ids,
    reported at `times`), read from `incidents_by_report` by its primary key (report time): as
    one range of report times, or (one_range False: times that lie apart) each second its own."""
    db = check_database_name(db)
    # PREWHERE: only the range's rows of the page's incidents are read in full (18.16 moves at
    # most one condition there by itself)
    params: dict = {"hashes": tuple(hashes)}
    if one_range:
        at = "reported_at >= toDateTime(%(lo)s) AND reported_at <= toDateTime(%(hi)s)"
        params.update(lo=min(times), hi=max(times))
    else:
        distinct = sorted(set(times))
        each = (f"reported_at = toDateTime(%(t{i})s)" for i in range(len(distinct)))
        at = "(" + " OR ".join(each) + ")"
        params.update({f"t{i}": t for i, t in enumerate(distinct)})
    prewhere = f"{at} AND {GROUP_KEY} IN %(hashes)s"
    latest_rows = latest_wide(db, "1", table="incidents_by_report", prewhere=prewhere)
    sql = f"SELECT cityHash64(s_id), {WIDE_SELECT} FROM ({latest_rows})"
    return {row[0]: row[1:] for row in client.execute(sql, params)}
