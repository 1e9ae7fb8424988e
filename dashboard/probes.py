"""The dashboard's /readyz and /metrics (cityops/http_probes.py), plus the gauge of open incidents
read from ClickHouse (cached: a scrape every few seconds costs one query at most per 15 s)."""

from __future__ import annotations

import threading
import time

from cityops.storage.client import check_database_name, connect

OPEN_TTL = 15.0
# The latest state of each incident (argMax over its versions), as the wall counts open ones.
OPEN_QUERY = """
SELECT count() FROM (
    SELECT argMax(status, version) AS s_status
    FROM {db}.incidents
    GROUP BY cityHash64(incident_id)
)
WHERE s_status NOT IN %(excluded)s
"""


class OpenIncidents:
    """A prometheus-client collector: `cityops_incidents_open`, nothing when ClickHouse fails."""

    def __init__(self, settings, ttl: float = OPEN_TTL) -> None:
        self.target, self.ttl = settings.clickhouse, ttl
        self.db = check_database_name(self.target.database)
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._value: int | None = None

    def count(self) -> int | None:
        with self._lock:
            if time.monotonic() - self._at >= self.ttl:
                self._at = time.monotonic()
                client = connect(self.target)
                try:
                    rows = client.execute(
                        OPEN_QUERY.format(db=self.db), {"excluded": ("resolved", "closed")}
                    )
                    self._value = int(rows[0][0])
                except Exception:  # noqa: BLE001 - /readyz names the ClickHouse failure
                    self._value = None
                finally:
                    client.disconnect()
            return self._value

    def describe(self):
        return []

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        value = self.count()
        if value is not None:
            yield GaugeMetricFamily(
                "cityops_incidents_open",
                "Incidents whose latest state is neither resolved nor closed (ClickHouse)",
                value=value,
            )


def install(server, settings) -> None:
    from cityops import http_probes

    http_probes.install(server, "dashboard", settings, collectors=[OpenIncidents(settings)])
