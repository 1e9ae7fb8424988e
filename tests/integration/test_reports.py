"""`cityops report` (CONTRACT §12) on the real ClickHouse server (18.16 here): a known Beijing
day of incidents, versions, transitions and events stored as the engine's writer stores them (each
version in its own insert), then the CSV has the §12 columns and the expected numbers for every
district, twice the same; the HTML is one self-contained file; a bad --date is one line, exit 2.
The report's SQL equals the measures' twins here as on chdb (tests/unit/storage)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest

from cityops.schemas.registry import load_registry
from cityops.storage import report_queries as rq
from cityops.storage import report_rows as rr
from tests.e2e.builders import a_transition, an_event, an_incident, insert
from tests.unit.storage import test_report_queries as modern

DAY = "2026-11-03"  # a Tuesday
PERIOD = rr.period("daily", rr.parse_date(DAY))
START, END = int(PERIOD.start.timestamp()), int(PERIOD.end.timestamp())
LOOP = {"callback": "", "unsolved": 0, "returns": 0, "supervision": ""}


def cityops(env, *args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "cityops.deploy.cli", *args],
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def _version(iid, at, version, district, street, **kw):
    loop = {**LOOP, **{k: kw.pop(k) for k in ("callback", "unsolved") if k in kw}}
    row = an_incident(incident_id=iid, reported_at=at, version=version, district=district,
                      street=street, **kw)  # fmt: skip
    return {**row, **loop}


def seed(ch) -> None:
    """Jianye (320105): 4 incidents — one closed on time with the citizen's "solved, satisfied",
    one closed after a breach with "solved, not satisfied", one reopened after "not solved"
    (a repeat), one still dispatched; its last version written after the day counts for nothing.
    Xuanwu (320102): 1 incident, resolved. Outside the day: one the evening before (Beijing)."""
    j, x = ("320105", "320105001"), ("320102", "320102001")
    base = START + 3600
    versions = [
        # version 1 of each: opened
        *[_version(f"j{i}", base + i * 60, 1, *j, status="dispatched") for i in range(4)],
        _version("x0", base, 1, *x, status="dispatched"),
        _version("early", START - 60, 1, *j, status="dispatched"),
    ]
    later = [
        _version("j0", base, 2, *j, status="closed", satisfied=1, callback="solved",
                 updated_at=base + 7200),
        _version("j1", base + 60, 2, *j, status="closed", satisfied=0, callback="solved",
                 breaches=1, updated_at=base + 7200),
        _version("j2", base + 120, 2, *j, status="reopened", satisfied=0, callback="unsolved",
                 unsolved=1, repeat_count=1, updated_at=base + 7200),
        _version("x0", base, 2, *x, status="resolved", updated_at=base + 600),
    ]  # fmt: skip
    after = [_version("j3", base + 180, 2, *j, status="closed", satisfied=1, callback="solved",
                      breaches=3, updated_at=END + 60)]  # fmt: skip
    for batch in (versions, later, after):
        insert(ch, "incidents", batch)
    events = [an_event(id=f"e{i}", time=base + i, district=j[0], street=j[1]) for i in range(6)]
    events += [an_event(id="ex", time=base, district=x[0], street=x[1])]
    events += [an_event(id="e-before", time=START - 1, district=j[0], street=j[1])]
    insert(ch, "events", events + events[:2])  # a redelivered batch
    transitions = []
    for iid, at in (("j0", base), ("j1", base + 60)):
        for seq, (kind, after_s) in enumerate(
            (("dispatched", 10), ("accepted", 600), ("resolved", 3600), ("closed", 7200))
        ):
            transitions.append(a_transition(incident_id=iid, seq=seq, at=at + after_s, kind=kind))
    insert(ch, "incident_transitions", transitions)


@pytest.fixture
def seeded(isolated):
    seed(isolated.ch)
    return isolated


def test_the_daily_csv_has_every_district_with_the_expected_numbers(seeded):
    first = cityops(seeded.env, "report", "daily", "--date", DAY, "--format", "csv")
    assert first.returncode == 0, first.stderr.decode()
    text = first.stdout.decode("utf-8")
    lines = list(csv.reader(io.StringIO(text)))
    assert tuple(lines[0]) == rr.COLUMNS
    rows = {r["unit_code"]: r for r in csv.DictReader(io.StringIO(text))}
    districts = {u.code for u in load_registry().districts()}
    assert set(rows) == districts and len(lines) == len(districts) + 1
    jianye = rows["320105"]
    assert jianye["unit_name"] == "建邺区"
    assert (jianye["events"], jianye["incidents"]) == ("6", "4")
    assert jianye["on_time_rate"] == "0.7500"  # j1 breached; j3's later breaches not yet
    assert jianye["closure_rate"] == "0.5000"  # j0, j1 (j3 closed after the day)
    assert jianye["actual_resolution_rate"] == "1.0000"  # both closed ones confirmed solved
    assert jianye["satisfaction_rate"] == "0.3333"  # j0 of j0, j1, j2 answered
    assert jianye["repeat_rate"] == "0.2500"
    xuanwu = rows["320102"]
    assert (xuanwu["events"], xuanwu["incidents"], xuanwu["closure_rate"]) == ("1", "1", "0.0000")
    assert xuanwu["actual_resolution_rate"] == "" and xuanwu["satisfaction_rate"] == ""
    quiet = [r for r in rows.values() if r["incidents"] == "0"]
    assert len(quiet) == len(districts) - 2 and all(r["rank"] == "" for r in quiet)
    assert {r["tier"] for r in rows.values()} == {"1", "2", "3"}
    # the same command twice: the same bytes
    again = cityops(seeded.env, "report", "daily", "--date", DAY)
    assert again.returncode == 0 and again.stdout == first.stdout


def test_weekly_by_street_and_html_to_a_file(seeded, tmp_path):
    weekly = cityops(seeded.env, "report", "weekly", "--date", DAY, "--by", "street")
    assert weekly.returncode == 0, weekly.stderr.decode()
    rows = {r["unit_code"]: r for r in csv.DictReader(io.StringIO(weekly.stdout.decode()))}
    # the week (Mon 2 Nov – Sun 8 Nov) holds the evening-before incident too
    assert rows["320105001"]["incidents"] == "5" and rows["320102001"]["incidents"] == "1"
    assert len(rows) == load_registry().counts()["street"]
    out = tmp_path / "report.html"
    done = cityops(seeded.env, "report", "daily", "--date", DAY, "--format", "html", "--out",
                   str(out))  # fmt: skip
    assert done.returncode == 0 and done.stdout == b"", done.stderr.decode()
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "建邺区" in page
    assert "report-funnel" in page and 'src="http' not in page  # plotly inlined, no CDN
    assert "<td>10m</td>" in page  # Jianye's median dispatched→accepted: 590 s


@pytest.mark.parametrize(
    "args, message",
    [
        (["daily", "--date", "2026-02-30"], "expected a date YYYY-MM-DD, got '2026-02-30'"),
        (["daily", "--date", "tomorrow"], "expected a date YYYY-MM-DD"),
        (["monthly"], "invalid choice: 'monthly'"),
        (["daily", "--format", "xlsx"], "invalid choice: 'xlsx'"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(isolated, args, message):
    done = cityops(isolated.env, "report", *args)
    err = done.stderr.decode()
    assert done.returncode == 2 and message in err
    assert err.count("\n") == 1 and "Traceback" not in err and done.stdout == b""


def test_an_unreachable_clickhouse_is_one_line(isolated):
    env = {**isolated.env, "CITYOPS_CLICKHOUSE_URL": "clickhouse://127.0.0.1:1/nothing"}
    done = cityops(env, "report", "daily", "--date", DAY)
    err = done.stderr.decode()
    assert done.returncode == 1 and err.startswith("cityops: error: cannot read ClickHouse")
    assert err.count("\n") == 1


@pytest.mark.parametrize("group", rq.GROUPS)
def test_the_report_sql_equals_the_twins_on_this_server(isolated, group):
    rows = modern._incidents()
    for version in (1, 2, 3):
        insert(isolated.ch, "incidents", [r for r in rows if r["version"] == version])
    period = modern.PERIOD
    got = rq.unit_counts(isolated.ch, isolated.database, group, period.start, period.end)
    twin = modern.twin_counts(group, None)
    assert got == twin and len(got) >= 2


def test_pdf_is_printed_by_headless_chromium(seeded, tmp_path):
    out = tmp_path / "report.pdf"
    done = cityops(seeded.env, "report", "weekly", "--date", DAY, "--format", "pdf", "--out",
                   str(out), timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:] and len(data) > 20_000
    assert not list(tmp_path.glob(".*.tmp"))  # written whole, then renamed
