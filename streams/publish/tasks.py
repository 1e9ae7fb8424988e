"""A department's work queue: the tasks the platform assigns on `city.tasks.<dept_code>`, read with
a consumer group per department. `Task` is the part of a task message a department acts on.

    with TaskQueue(settings, "water") as queue:
        for task in queue:
            publisher.publish(action("accept", task.incident_id, department="water"))
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from cityops.schemas.taxonomy import DEPARTMENTS
from cityops.schemas.topics import Topics

DONE_WORDS = ("cancel", "closed", "done", "withdrawn", "completed")


@dataclass(frozen=True)
class Task:
    incident_id: str
    department: str
    role: str = "lead"
    type: str = ""
    kind: str = ""  # assigned, urge, released, reopened, escalated, closed, callback, return_review
    status: str = ""
    category: str | None = None
    severity: int | None = None
    district: str | None = None
    street: str | None = None
    community: str | None = None
    title: str | None = None
    round: int = 0  # 0 the first assignment, 1+ after the incident was reopened
    data: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def open(self) -> bool:
        """True for a task to act on (assigned, reopened, a callback to make, a return to
        decide), False for other notices."""
        if self.kind:
            return self.kind in ("assigned", "reopened", "callback", "return_review")
        text = f"{self.type} {self.status}".lower()
        return not any(word in text for word in DONE_WORDS)


def parse_task(topic: str, value: bytes) -> Task | None:
    """A Task from a city.tasks.<dept> message (a structured CloudEvent); None when unreadable."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    data: dict[str, Any] = doc["data"] if isinstance(doc.get("data"), dict) else doc
    incident = data["incident"] if isinstance(data.get("incident"), dict) else {}
    location = data["location"] if isinstance(data.get("location"), dict) else {}

    def first(*names: str) -> Any:
        for source in (data, incident, location):
            for name in names:
                value = source.get(name)
                if value not in (None, ""):
                    return value
        return None

    incident_id = first("incident_id") or doc.get("subject")
    department = first("department") or topic.rsplit(".", 1)[-1]
    if not isinstance(incident_id, str) or department not in DEPARTMENTS:
        return None
    severity = first("severity")
    kind = str(first("kind") or "")
    text = f"{doc.get('type', '')} {kind} {first('status') or ''}".lower()
    return Task(
        incident_id=incident_id,
        department=department,
        role=str(first("role") or "lead"),
        type=str(doc.get("type", "")),
        kind=kind,
        status=str(first("status") or ""),
        category=first("category"),
        severity=severity if isinstance(severity, int) else None,
        district=first("district"),
        street=first("street"),
        community=first("community"),
        title=first("title"),
        round=1 if "reopen" in text else 0,
        data=data,
    )


class TaskQueue:
    """Iterates over the tasks of one department (or several: `departments=[...]`).

    With `group=True` (the default) it joins the consumer group `<prefix>cityops-dept-<code>`
    and commits as it goes, so a restarted client resumes where it stopped. `group=False`
    assigns every partition directly and starts at the end (the simulator, tests)."""

    def __init__(
        self,
        settings,
        department: str | list[str],
        *,
        group: bool = True,
        from_beginning: bool = False,
        poll_ms: int = 500,
    ) -> None:
        from kafka import KafkaConsumer, TopicPartition

        departments = [department] if isinstance(department, str) else list(department)
        for code in departments:
            if code not in DEPARTMENTS:
                raise ValueError(f"unknown department {code!r}")
        topics = Topics(settings.topic_prefix)
        names = [topics.tasks(code) for code in departments]
        reset = "earliest" if from_beginning else "latest"
        self.poll_ms = poll_ms
        if group:
            if len(departments) != 1:
                raise ValueError("a consumer group reads one department's queue")
            self._consumer = KafkaConsumer(
                **settings.kafka.kafka_python(),
                group_id=f"{settings.topic_prefix}cityops-dept-{departments[0]}",
                auto_offset_reset=reset,
                enable_auto_commit=True,
            )
            self._consumer.subscribe(names)
        else:
            self._consumer = KafkaConsumer(
                **settings.kafka.kafka_python(),
                auto_offset_reset=reset,
                enable_auto_commit=False,
            )
            partitions: list[TopicPartition] = []
            for name in names:
                found = self._consumer.partitions_for_topic(name) or set()
                partitions.extend(TopicPartition(name, p) for p in sorted(found))
            self._consumer.assign(partitions)
            if from_beginning:
                self._consumer.seek_to_beginning()
            else:
                self._consumer.seek_to_end()
                for tp in partitions:  # resolve the end offsets now, not at the first poll
                    self._consumer.position(tp)

    def poll(self, timeout_ms: int | None = None) -> list[Task]:
        batches = self._consumer.poll(timeout_ms=self.poll_ms if timeout_ms is None else timeout_ms)
        tasks = []
        for tp, records in batches.items():
            for record in records:
                task = parse_task(tp.topic, record.value)
                if task is not None:
                    tasks.append(task)
        return tasks

    def __iter__(self) -> Iterator[Task]:
        while True:
            yield from self.poll()

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TaskQueue:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
