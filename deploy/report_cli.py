"""`cityops report daily|weekly` (CONTRACT §12): build the report from ClickHouse with the normal
settings and write it as CSV, HTML or PDF (stdout unless --out); `--part returns` writes the
returns audit's CSV instead of the §12 rows. PDF: the HTML file printed by
headless Chromium (the Debian package the stack already installs for its browser tests), so the
PDF shows exactly the HTML's tables and charts; docs/reports.md says why.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cityops.storage import report_rows as rr

FORMATS = ("csv", "html", "pdf")
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
PDF_TIMEOUT_S = 120


class ReportError(Exception):
    """Something outside the command line went wrong (storage unreachable, no Chromium)."""


def _approx_seconds(duration) -> float:
    # a working day spans about 7/5 calendar days: only for ordering the shown limits
    return duration.amount * 86400 * 7 / 5 if duration.working_days else duration.seconds()


def _span(durations) -> str:
    labels = list(
        dict.fromkeys(f"{d.amount:g}{d.unit}" for d in sorted(durations, key=_approx_seconds))
    )
    return labels[0] if len(labels) == 1 else f"{labels[0]} – {labels[-1]}"


def limit_texts(policy) -> dict[str, str]:
    """The policy table's limits per funnel stage, as shown beside the stage times."""
    slas = list(policy.sla.values()) + list(policy.category_sla.values())
    accept = [d for s in slas for d in (s.accept, s.extreme_accept) if d is not None]
    resolve = [d for s in slas for d in (s.resolve, s.extreme_resolve) if d is not None]
    return {
        "accepted": f"{_span(accept)} (按类别与等级 by category and severity)",
        "resolved": f"{_span(resolve)} (按类别与等级 by category and severity)",
        "callback": f"{policy.callback_within.amount:g}{policy.callback_within.unit}",
    }


def chromium() -> str:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise ReportError("PDF needs Chromium (Debian package `chromium`), not found on PATH")


def html_to_pdf(document: str) -> bytes:
    """Headless Chromium's print-to-PDF of one HTML document (its scripts run first)."""
    with tempfile.TemporaryDirectory(prefix="cityops-report-") as tmp:
        source, target = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        source.write_text(document, encoding="utf-8")
        argv = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                f"--user-data-dir={tmp}/profile", "--no-pdf-header-footer",
                "--virtual-time-budget=10000", f"--print-to-pdf={target}",
                source.as_uri()]  # fmt: skip
        try:
            done = subprocess.run(argv, capture_output=True, timeout=PDF_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise ReportError(f"Chromium did not print the PDF within {PDF_TIMEOUT_S} s") from None
        if not target.exists() or target.stat().st_size == 0:
            last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
            raise ReportError(f"Chromium could not print the PDF: {last}")
        return target.read_bytes()


def run(
    settings, period: str, day, fmt: str, out: Path | None, by: str, part: str = "units"
) -> int:
    from cityops.schemas.registry import load_registry
    from cityops.storage import reports
    from cityops.storage.client import connect

    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {FORMATS}")
    chosen = rr.period(period, day or rr.today_beijing())
    # the driver logs each failed connection with its traceback; we report it as one line below
    logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)
    client = connect(settings.clickhouse)
    try:
        report = reports.build(client, settings.clickhouse.database, load_registry(), chosen, by)
    except Exception as exc:  # noqa: BLE001 - one line for the operator, not a traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ReportError(
            f"cannot read ClickHouse at {settings.clickhouse.host}: {first}"
        ) from None
    finally:
        client.disconnect()
    if fmt == "csv":
        text = reports.returns_csv_text(report) if part == "returns" else reports.csv_text(report)
        data = text.encode("utf-8")
    else:
        from cityops.dashboard import report_html
        from cityops.streams.incidents.policy import load_policy

        document = report_html.render(report, limit_texts(load_policy(settings.policy_file)))
        data = document.encode("utf-8") if fmt == "html" else html_to_pdf(document)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, out)  # a reader never sees half a report
    return 0
