"""The department SDK moved to cityops.sdk (below streams/ and dashboard/, which both publish
through it); this name stays as an alias for code written against it."""

from cityops.sdk import (
    DEFAULT_PRODUCER,
    Delivery,
    Publisher,
    PublishError,
    action,
    complete,
    encode,
    now_utc,
    report,
    validated,
)

__all__ = [
    "DEFAULT_PRODUCER",
    "Delivery",
    "PublishError",
    "Publisher",
    "action",
    "complete",
    "encode",
    "now_utc",
    "report",
    "validated",
]
