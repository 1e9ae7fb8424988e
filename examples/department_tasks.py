"""A department's work queue: accept each task assigned to the water bureau, then resolve it.

CITYOPS_KAFKA_BOOTSTRAP=127.0.0.1:9092 python examples/department_tasks.py
"""

from __future__ import annotations

from cityops.sdk import Publisher, action
from cityops.settings import load_settings
from cityops.streams.publish.tasks import TaskQueue

DEPARTMENT = "water"


def main() -> None:
    settings = load_settings()
    with Publisher(settings, DEPARTMENT) as pub, TaskQueue(settings, DEPARTMENT) as queue:
        for task in queue:  # consumer group <prefix>cityops-dept-water: resumes after restart
            if not task.open:  # released, closed, urge … notices
                print(task.kind, task.incident_id)
                continue
            print("assigned", task.role, task.incident_id, task.title)
            pub.publish(
                action(
                    "accept",
                    task.incident_id,
                    department=DEPARTMENT,
                    actor="duty-officer-07",
                    comment="已接单",
                ),
                wait=True,
            )
            # … the crew goes out; when the work is done:
            pub.publish(
                action(
                    "resolve",
                    task.incident_id,
                    department=DEPARTMENT,
                    actor="duty-officer-07",
                    comment="已疏通排水口，积水已退",
                ),
                wait=True,
            )


if __name__ == "__main__":
    main()
