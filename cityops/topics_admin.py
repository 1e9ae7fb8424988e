"""Kafka topic administration shared by the launcher and the workers: the topics a stack uses,
creating the missing ones, and the broker readiness probe.
"""

from __future__ import annotations

from cityops.schemas.taxonomy import DEPARTMENTS
from cityops.schemas.topics import Topics
from cityops.settings import KafkaConnection, Settings, kafka_connection


def all_topics(settings: Settings) -> list[str]:
    topics = Topics(settings.topic_prefix)
    return [
        topics.events,
        topics.rejected,
        topics.incidents,
        topics.bundles,
        topics.readings,
        topics.claims,
        *(topics.tasks(code) for code in DEPARTMENTS),
    ]


def kafka_ready(kafka: KafkaConnection | str) -> bool:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        **kafka_connection(kafka).kafka_python(),
        request_timeout_ms=3000,
        client_id="cityops-probe",
    )
    try:
        admin.list_topics()
    finally:
        admin.close()
    return True


def create_topics(kafka: KafkaConnection | str, names: list[str], partitions: int) -> list[str]:
    """Create the topics that do not exist yet (Tansu does not auto-create for every client)."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(
        **kafka_connection(kafka).kafka_python(),
        client_id="cityops-admin",
        request_timeout_ms=10000,
    )
    try:
        existing = set(admin.list_topics())
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        if missing:
            try:
                admin.create_topics([NewTopic(n, partitions, 1) for n in missing])
            except TopicAlreadyExistsError:
                pass
        return missing
    finally:
        admin.close()
