"""cityops: event bus and wall display of a city-operations centre.

One installed namespace: `cityops.schemas` (the contract), the configuration modules in this
package (`cityops.settings`, `cityops.clickhouse_target`, `cityops.topics_admin`,
`cityops.private_files`), `cityops.storage`, `cityops.streams`, `cityops.dashboard`,
`cityops.deploy` (the launcher) and `cityops.bench`. Each layer imports only the ones before it
(tests/unit/test_layers.py).
"""

__version__ = "0.1.0"
