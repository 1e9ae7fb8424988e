"""The databases tests create on the shared ClickHouse server: dropping one, and listing those
left behind (tests/conftest.py fails the run on any)."""

from __future__ import annotations

import re

from cityops.storage.client import ClickHouseTarget, check_database_name, connect

# The databases tests and the bench smoke test create on the shared server (t_: `isolated`,
# m_: migration tests, e_: engine stacks, bench_: benchmark runs); none may outlive the run.
TEST_DATABASE = re.compile(r"^(t|m|e|bench)_")


def drop_database(target: ClickHouseTarget, name: str) -> None:
    """DROP DATABASE IF EXISTS `name` (checked: identifiers cannot be bound parameters)."""
    client = connect(target, database=False)
    try:
        client.execute(f"DROP DATABASE IF EXISTS {check_database_name(name)}")
    finally:
        client.disconnect()


def scratch_databases(target: ClickHouseTarget) -> set[str]:
    client = connect(target, database=False)
    try:
        names = {name for (name,) in client.execute("SELECT name FROM system.databases")}
    finally:
        client.disconnect()
    return {name for name in names if TEST_DATABASE.match(name)}
