"""One report (CONTRACT §12) put together: the period, its units from the registry (every district,
or every street of the city or of one district), the measured counts and events from
storage/report_queries.py, the rows from storage/report_rows.py, a funnel per unit and the returns
audit per unit and returning department (storage/returns_audit.py; its own CSV, `returns_csv_text`,
beside the §12 CSV, which keeps its columns). Readers:
`cityops report` (deploy/report_cli.py) and the dashboard's /reports page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from cityops.storage import report_queries as rq
from cityops.storage import report_rows as rr
from cityops.storage import returns_audit as ra

BY = ("district", "street")
_LEVEL_DIGITS = {"district": 6, "street": 9}


@dataclass(frozen=True)
class Report:
    period: rr.Period
    by: str
    scope: str | None
    rows: list[dict]
    funnels: dict[str, dict[str, dict]] = field(default_factory=dict)  # unit code -> stage -> stats
    names_en: dict[str, str] = field(default_factory=dict)
    # per unit code and returning department: returns, upheld, reassigned, pending
    returns: list[dict] = field(default_factory=list)


@lru_cache(maxsize=4)
def households(registry, level: str) -> dict[str, int]:
    """Households per district or street: the sum over the registry's micro-grids."""
    digits = _LEVEL_DIGITS[level]
    totals: Counter[str] = Counter()
    for unit in registry.units("micro_grid"):
        totals[unit.code[:digits]] += unit.households
    return dict(totals)


def units(registry, by: str, scope: str | None) -> list[tuple[str, str, str]]:
    """(code, name_zh, name_en) of the report's units: districts (an officer: their own only) or
    streets (an officer: their district's only)."""
    if by == "district":
        chosen = [u for u in registry.districts() if scope in (None, u.code)]
    else:
        districts = [scope] if scope else [u.code for u in registry.districts()]
        chosen = [s for d in districts for s in registry.children(d) if s.level == "street"]
    return [(u.code, u.name_zh, u.name_en or u.name_zh) for u in chosen]


def build(client, db: str, registry, period: rr.Period, by: str = "district",
          scope: str | None = None) -> Report:  # fmt: skip
    """The report of `period` per district or street; `scope` keeps an officer to a district."""
    if by not in BY:
        raise ValueError(f"--by must be one of {BY}, not {by!r}")
    start, end = period.start, period.end
    counts = rq.unit_counts(client, db, by, start, end, scope)
    events = rq.unit_events(client, db, by, start, end, scope)
    times = rq.stage_times(client, db, by, start, end, scope)
    listed = units(registry, by, scope)
    sizes = households(registry, by)
    rows = rr.rows(
        [rr.Unit(code, zh, sizes.get(code, 0)) for code, zh, _ in listed], counts, events
    )
    funnels = {code: rr.funnel(times.get(code, [])) for code, _, _ in listed}
    returns = ra.by_unit(ra.read_cases(client, db, start, end, scope), by)
    names_en = {code: en for code, _, en in listed}
    return Report(period, by, scope, rows, funnels, names_en, returns)


def csv_text(report: Report) -> str:
    """The §12 CSV: the header, then one line per unit (RFC 4180 quoting, \\r\\n line ends)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(rr.COLUMNS)
    for row in report.rows:
        writer.writerow([rr.cell(row[c]) for c in rr.COLUMNS])
    return out.getvalue()


RETURNS_COLUMNS = ("unit_code", "unit_name", "department", *ra.COUNT_NAMES)


def returns_rows(report: Report) -> list[dict]:
    """The returns audit's rows with each unit's (Chinese) name ('' for a unit not listed)."""
    names = {r["unit_code"]: r["unit_name"] for r in report.rows}
    return [{**r, "unit_name": names.get(r["unit_code"], "")} for r in report.returns]


def returns_csv_text(report: Report) -> str:
    """The returns audit as CSV (docs/reports.md): RETURNS_COLUMNS, one line per unit and
    returning department (RFC 4180 quoting, \\r\\n line ends, as the §12 CSV)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(RETURNS_COLUMNS)
    for row in returns_rows(report):
        writer.writerow([row[c] for c in RETURNS_COLUMNS])
    return out.getvalue()


def restrict(report: Report, scope: str | None) -> Report:
    """The report as an officer of district `scope` may read it: their own district's row, or
    their district's streets (tiers and ranks stay those of the whole city); None: everything."""
    if scope is None:
        return report
    mine = [r for r in report.rows if r["unit_code"][:6] == scope]
    codes = {r["unit_code"] for r in mine}
    return Report(
        report.period,
        report.by,
        scope,
        mine,
        {c: f for c, f in report.funnels.items() if c in codes},
        {c: n for c, n in report.names_en.items() if c in codes},
        [r for r in report.returns if r["unit_code"][:6] == scope],
    )
