"""A department publishing reports and actions with the SDK (the water bureau's sensor bridge).

CITYOPS_KAFKA_BOOTSTRAP=127.0.0.1:9092 python examples/department_publish.py
"""

from __future__ import annotations

from cityops.schemas.events import InvalidEvent
from cityops.sdk import Publisher, PublishError, report
from cityops.settings import load_settings


def main() -> None:
    settings = load_settings()
    failed: list[str] = []
    on_error = lambda event_id, exc: failed.append(event_id)  # noqa: E731
    with Publisher(settings, "water", on_error=on_error) as pub:
        try:
            event_id = pub.publish(
                report(
                    category="waterlogging",
                    severity=3,
                    channel="sensor",
                    title="莫愁湖街道水位超警戒",
                    location={"district": "320105", "street": "320105001"},
                    sensor={
                        "sensor_id": "wl-320105001-07",
                        "metric": "water_level",
                        "value": 32.5,
                        "unit": "cm",
                        "threshold": 15,
                    },
                )
            )
            print("queued", event_id)
        except InvalidEvent as exc:  # nothing was sent; exc.path names the field
            print("invalid:", exc)
    # Leaving the block flushed: every event is acknowledged or listed in `failed`, and a
    # retry with the same id is safe (the id is the idempotency key).
    if failed:
        raise PublishError(failed[0], f"{len(failed)} events not delivered")


if __name__ == "__main__":
    main()
