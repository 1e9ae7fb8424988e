"""The notifier's table as declared (storage/tables.py) is the one migration 8 creates."""

from __future__ import annotations

from cityops.storage.notifications import COLUMNS
from cityops.storage.tables import NOTIFICATIONS
from tests.unit.storage.test_schema_drift import table_columns


def test_declared_columns_match_the_migration():
    assert list(table_columns("notifications").items()) == list(NOTIFICATIONS)
    assert COLUMNS == tuple(name for name, _ in NOTIFICATIONS)
    assert not {"url", "secret"} & set(COLUMNS)  # targets are stored by name only
