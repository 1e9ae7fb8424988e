"""cityops: event bus and wall display of a city-operations centre.

One installed namespace: `cityops.schemas` (the contract), the configuration modules in this
package (`cityops.settings`, `cityops.clickhouse_target`, `cityops.topics_admin`,
`cityops.private_files`), `cityops.storage`, `cityops.streams`, `cityops.dashboard`,
`cityops.deploy` (the launcher) and `cityops.bench`. Each layer imports only the ones before it
(tests/unit/test_layers.py).
"""

import os

__version__ = "0.1.0"

# clickhouse-driver fills a table of every date from 1900 to 2299 when it is imported (~22 MB in
# each process) unless this, its own option, asks it to fill the table as dates are met; the
# values are the same either way (docs/performance.md M-29).
os.environ.setdefault("CLICKHOUSE_DRIVER_LASY_DATE_LUT", "2024-01-01:2030-12-31")
