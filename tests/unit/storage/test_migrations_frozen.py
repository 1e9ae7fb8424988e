"""Shipped migrations are frozen: a database that applied migration N never runs it again, so an
edit to N's text would change new databases only and leave the deployed ones behind. Each
migration's statements are pinned here by a hash; a schema change is a new migration."""

from __future__ import annotations

import hashlib

import pytest

from cityops.storage import ddl, tables

# version -> sha256 of the migration's statements joined by "\n;\n". Pin a migration here once it
# ships; never change a pin.
PINNED = {
    1: "ce23a51cb9656290cd9d97834f57ab1e5b6337eff75c8ad181feb2dbcc7695a0",
    2: "ff7a7100ba2f4552c610f32195270b06c5c69374310541a5253992b417d731d1",
    3: "e9f34de612686e360098c076ef9d3246e504ae13e5be25d81b6aef198817f102",
    4: "b756ea66cfbbc62296e94a5fd1a377009e56a8a174125e6cd91ee8da5fc2a76b",
    5: "34388f4afb9b9efefaf174ce52b79c69cb72dc1da3df43acdd52b625fb39d6d2",
    6: "d23e526026bb4d0d514390baf52f88d6f6ac65fd4469fdef5f51699dd9e03f31",
    7: "a5355fcc145f74e3180eb8fcce9dbf5d3608f298ba82155c9124823c703b85df",
    8: "6f366feb857383508c3c3a825559a33cda3b80a1e9160e3f6e3cb755ef399be7",
    9: "c5efe82d48fe2a41f91d52fe5c080dcf9bef3005f93504250c665e688f123456",
    10: "d8de0ded67daee7655248324b1796f0cfb17929ab42eb69310d3cf5dfd56ca22",
    11: "a97d646573a62a9dbbeb676391a57407693f0c04741b330c70f1bc9887e6f53f",
    12: "9dbd8d30b3f56f1629ead4fb675d1fac6ddc0f15a685bd06d2c5342d27d47858",
    13: "66580933602ab5e7e2cc0271bef62b07d2b29b984061e54f4667f11b5ed2de1a",
    14: "e61b055d9a01aff76649a1aff1ba41be5c641d0dad9db17475d228998e38c226",
}
# The schema_version table is created IF NOT EXISTS on every migrate(): an edit reaches no
# existing database either.
SCHEMA_VERSION_TABLE = "b86ab0607b2849b4be0a996c87ff1aff90fd840ecc27895ba27c0a0a0e2c3972"


def text_hash(statements: tuple[str, ...]) -> str:
    return hashlib.sha256("\n;\n".join(statements).encode()).hexdigest()


@pytest.mark.parametrize("migration", ddl.MIGRATIONS, ids=lambda m: f"migration {m.version}")
def test_a_shipped_migration_keeps_its_text(migration):
    pinned = PINNED.get(migration.version)
    actual = text_hash(migration.statements)
    if pinned is None:
        pytest.fail(
            f"migration {migration.version} is not pinned: once it ships, add "
            f'{migration.version}: "{actual}" to PINNED in {__name__}'
        )
    assert actual == pinned, (
        f"the text of shipped migration {migration.version} changed: databases that applied it "
        "will never see the change. Revert it and add a new migration instead."
    )


def test_the_schema_version_table_keeps_its_text():
    assert text_hash((ddl.SCHEMA_VERSION_TABLE,)) == SCHEMA_VERSION_TABLE, (
        "the schema_version table's text changed: existing databases keep the old one. "
        "Revert it and add a new migration instead."
    )


def test_versions_run_from_one_without_gaps():
    versions = [m.version for m in ddl.MIGRATIONS]
    assert versions == list(range(1, max(versions) + 1))


def test_a_pin_catches_an_edit_to_any_statement():
    """The pin is not blind: changing one character of any statement changes the hash."""
    for migration in ddl.MIGRATIONS:
        for i, statement in enumerate(migration.statements):
            edited = list(migration.statements)
            edited[i] = statement.replace("IF NOT EXISTS", "IF  NOT EXISTS", 1) + " "
            assert text_hash(tuple(edited)) != PINNED[migration.version]


def test_create_table_writes_the_migrations_layout():
    """`tables.create_table()` (for new migrations) lays a table out as the shipped ones are."""
    built = tables.create_table(
        "event_hours",
        (("hour", "DateTime"), ("rows", "UInt64")),
        "SummingMergeTree()\nPARTITION BY toYYYYMM(hour)\nORDER BY hour",
    )
    assert built == ddl.MIGRATIONS[3].statements[0]
