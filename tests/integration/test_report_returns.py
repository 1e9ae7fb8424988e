"""The returns audit in `cityops report` on the real ClickHouse server (18.16 here): a Beijing day
with returns of Jianye (upheld, reassigned, pending; one a day later) and Xuanwu (pending); the
returns CSV (`--part returns`) has them per district and returning department, by street too, and
the HTML report's returns section shows them; `--part returns` with HTML is one line, exit 2.
The pairing on this server equals the counts of loop_queries.returns_audit (the SQL)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from cityops.storage import loop_queries
from cityops.storage import report_rows as rr
from cityops.storage import returns_audit as ra
from cityops.storage.reports import RETURNS_COLUMNS
from tests.e2e.builders import a_transition, insert
from tests.integration.test_reports import cityops
from tests.integration.test_returns_dashboard import seed_returns

DAY = "2026-11-04"
PERIOD = rr.period("daily", rr.parse_date(DAY))
NOON = int((PERIOD.start + timedelta(hours=12)).timestamp())  # Beijing noon


def seed(ch) -> None:
    seed_returns(ch, NOON)
    later = a_transition(incident_id="320105001-r1", seq=5, at=NOON + 86400, kind="returned",
                         department="housing", reason="the next day")  # fmt: skip
    insert(ch, "incident_transitions", [later])


def _csv(done) -> list[dict]:
    assert done.returncode == 0, done.stderr.decode()
    text = done.stdout.decode("utf-8")
    assert tuple(next(csv.reader(io.StringIO(text)))) == RETURNS_COLUMNS
    return list(csv.DictReader(io.StringIO(text)))


def test_the_returns_csv_and_the_html_section(isolated, tmp_path):
    seed(isolated.ch)
    rows = _csv(cityops(isolated.env, "report", "daily", "--date", DAY, "--part", "returns"))
    got = [(r["unit_code"], r["unit_name"], r["department"], r["returns"], r["upheld"],
            r["reassigned"], r["pending"]) for r in rows]  # fmt: skip
    assert got == [
        ("320102", "玄武区", "urban_mgmt", "1", "0", "0", "1"),
        ("320105", "建邺区", "urban_mgmt", "2", "1", "1", "0"),
        ("320105", "建邺区", "water", "1", "0", "0", "1"),
    ]  # the next day's return is not in the day
    streets = _csv(cityops(isolated.env, "report", "daily", "--date", DAY, "--part", "returns",
                           "--by", "street"))  # fmt: skip
    assert [(r["unit_code"], r["department"]) for r in streets] == [
        ("320102001", "urban_mgmt"), ("320105001", "urban_mgmt"), ("320105002", "water")
    ]  # fmt: skip
    out = tmp_path / "report.html"
    done = cityops(isolated.env, "report", "daily", "--date", DAY, "--format", "html",
                   "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    section = out.read_text(encoding="utf-8").split("退单审核 returns audit", 1)[1]
    assert '<td class="name">320105</td><td class="name">建邺区</td>' in section
    assert "<td>2</td><td>1</td><td>1</td><td>0</td>" in section
    refused = cityops(isolated.env, "report", "daily", "--format", "html", "--part", "returns")
    err = refused.stderr.decode()
    assert refused.returncode == 2 and "--part returns is a CSV" in err and err.count("\n") == 1


def test_the_pairing_equals_the_sql_audit_on_this_server(isolated):
    seed(isolated.ch)
    since = PERIOD.start
    cases = ra.read_cases(isolated.ch, isolated.database, since)
    assert ra.by_department(cases) == loop_queries.returns_audit(
        isolated.ch, isolated.database, since
    )
    scoped = ra.read_cases(isolated.ch, isolated.database, since, scope="320105002")
    assert [c["incident_id"] for c in scoped] == ["320105002-r3"]
