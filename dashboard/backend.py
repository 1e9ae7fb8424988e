"""What the pages read from: one ClickHouse client per server thread (clickhouse-driver clients
are not thread-safe), the database name, and the registry's static facts the wall needs
(district names, households per district, the district boundaries). Built once by the app factory.
"""

from __future__ import annotations

import json
import threading
import zoneinfo
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cityops.settings import Settings
from cityops.storage.client import connect

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
GEOJSON = Path(__file__).resolve().parents[1] / "schemas" / "data" / "nanjing_districts.geojson"


@dataclass
class Backend:
    settings: Settings
    _local: threading.local = field(default_factory=threading.local, repr=False)

    @property
    def db(self) -> str:
        return self.settings.clickhouse.database

    def client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            client = connect(self.settings.clickhouse)
            self._local.client = client
        return client

    def run(self, query, *args, **kwargs):
        """Run a cityops.storage.queries function with this thread's client and the database; a
        broken connection is dropped so the next call reconnects (ClickHouse may come back)."""
        try:
            return query(self.client(), self.db, *args, **kwargs)
        except Exception:
            self.reset()
            raise

    def reset(self) -> None:
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            try:
                client.disconnect()
            except Exception:  # noqa: BLE001 - already broken; nothing more to do
                pass

    # -- static facts -----------------------------------------------------------------------------
    @cached_property
    def pool(self) -> ThreadPoolExecutor:
        """Threads that run one wall refresh's queries side by side."""
        return ThreadPoolExecutor(max_workers=4, thread_name_prefix="cityops-query")

    @cached_property
    def incidents(self):
        """The wall's latest-state cache (storage/snapshot.py), shared by every thread."""
        from cityops.storage.snapshot import IncidentSnapshot

        return IncidentSnapshot(self.run)

    @cached_property
    def events(self):
        """The wall's per-hour event counts (storage/event_hours.py), shared by every thread."""
        from cityops.storage.event_hours import EventHours

        return EventHours(self.run)

    @cached_property
    def registry(self):
        from cityops.schemas.registry import load_registry

        return load_registry()

    @cached_property
    def districts(self) -> list[tuple[str, str, str]]:
        """[(adcode, name_zh, name_en)] in adcode order: the order the map's arrays use."""
        return sorted(
            (u.code, u.name_zh, u.name_en or u.name_zh) for u in self.registry.districts()
        )

    @cached_property
    def households(self) -> dict[str, int]:
        """Households per district: the sum over the registry's micro-grids."""
        totals: Counter[str] = Counter()
        for unit in self.registry.units("micro_grid"):
            totals[unit.code[:6]] += unit.households
        return {code: totals.get(code, 0) for code, _, _ in self.districts}

    @cached_property
    def geojson(self) -> dict:
        return json.loads(GEOJSON.read_text(encoding="utf-8"))

    def warm(self) -> None:
        _ = self.households, self.geojson

    def district_name(self, code: str) -> tuple[str, str]:
        unit = self.registry.unit(code)
        if unit is None:
            return (code, code)
        return (unit.name_zh, unit.name_en or unit.name_zh)
