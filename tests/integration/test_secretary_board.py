"""书记督办 end to end through the real bus (CONTRACT §11): a callback answered `resolved: false`
reopens the matter and puts it under the community secretary (the `supervised` transition, the
`incidents.supervision` column, the `supervision` of city.incident.changed.v1); the real
dashboard shows it on that secretary's board and not on another community's."""

from __future__ import annotations

import os

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from cityops.dashboard.auth import save_user
from cityops.schemas.topics import Topics
from tests.e2e.conftest import PASSWORD, start_dashboard, stop_dashboard
from tests.integration.test_authz_dashboard import signed_in
from tests.integration.test_authz_street_scope import page
from tests.integration.test_engine import (
    a_report,
    act_and_wait,
    an_action,
    incident_of,
    make_stack,
    status_of,
    timeline,
)

LEAD = "ecology_env"  # the lead of a noise complaint
MICRO = "3201050010010101"  # community 320105001001


@pytest.fixture(scope="module")
def engine(request, services, tmp_path_factory):
    home = tmp_path_factory.mktemp("secretary")
    stack = make_stack(request, services.bootstrap, services.clickhouse, home)
    stack.start()
    yield stack
    stack.stop()
    stack.ch.disconnect()


def changed_supervision(stack, incident: str) -> list[str]:
    topic = Topics(stack.settings.topic_prefix).incidents
    consumer = KafkaConsumer(bootstrap_servers=stack.settings.bootstrap, consumer_timeout_ms=500)
    try:
        consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)])
        consumer.seek_to_beginning()
        return [
            data["supervision"]
            for m in consumer
            if (data := orjson.loads(m.value)["data"])["incident_id"] == incident
        ]
    finally:
        consumer.close()


def test_an_unsolved_callback_puts_the_matter_on_the_community_secretarys_board(
    engine, artifacts_dir, request
):
    report = a_report("noise", 1, MICRO)
    engine.send(report)
    incident = incident_of(engine, report["id"])
    engine.wait("dispatched", lambda: (s := status_of(engine, incident)) and s[0])
    act_and_wait(engine, an_action("accept", incident, LEAD), "accepted", incident)
    act_and_wait(engine, an_action("resolve", incident, LEAD), "resolved", incident)
    answer = an_action("feedback", incident, "hotline12345", resolved=False, satisfied=False)
    act_and_wait(engine, answer, "reopened", incident)
    stored = engine.wait(
        "supervision stored",
        lambda: engine.q(
            "SELECT argMax(supervision, version) FROM {db}.incidents "
            "WHERE incident_id = %(i)s HAVING argMax(supervision, version) != ''",
            {"i": incident},
        ),
    )
    assert stored == [("community",)]
    kinds = engine.wait(
        "the supervised transition",
        lambda: (k := timeline(engine, incident)) and "supervised" in k and k,
    )
    assert kinds[kinds.index("reopened") + 1] == "supervised", kinds
    assert engine.wait(
        "supervision on city.incidents",
        lambda: "community" in changed_supervision(engine, incident),
    )

    settings = engine.settings
    home = settings.home / "dash"
    home.mkdir(parents=True, exist_ok=True)
    save_user(home, "sec_a", PASSWORD, "secretary", None, unit="320105001001")
    save_user(home, "sec_b", PASSWORD, "secretary", None, unit="320105001002")
    env = {
        **os.environ,
        "CITYOPS_KAFKA_BOOTSTRAP": settings.bootstrap,
        "CITYOPS_CLICKHOUSE_URL": settings.clickhouse_url,
        "CITYOPS_TOPIC_PREFIX": settings.topic_prefix,
        "CITYOPS_PARTITIONS": str(settings.partitions),
        "CITYOPS_DATABASE": settings.database,
    }
    dash = start_dashboard(env, home, artifacts_dir, request.node.name)
    try:
        board = page(signed_in(dash, "sec_a"), dash, "/supervision")
        assert f"/incidents/{incident}" in board and "社区书记督办" in board
        assert "重新办理" in board and "回访" in board  # what was tried: the reopening, callback
        other = page(signed_in(dash, "sec_b"), dash, "/supervision")
        assert f"/incidents/{incident}" not in other and "暂无督办事项" in other
    finally:
        stop_dashboard(dash)
