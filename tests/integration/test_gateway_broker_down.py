"""A 202 always means the event is in Kafka: with the broker stopped the gateway answers 503
with Retry-After and acknowledges nothing."""

from __future__ import annotations

import time

from cityops.deploy import services as svc
from cityops.topics_admin import create_topics
from tests.integration.test_gateway import BATCH, an_event, start_gateway, stop_gateway


def test_a_stopped_broker_gives_503_and_nothing_acknowledged(isolated, tmp_path):
    port = svc.free_port()
    broker = svc.start_broker(tmp_path / "private", port)
    bootstrap = f"127.0.0.1:{port}"
    env = {**isolated.env, "CITYOPS_KAFKA_BOOTSTRAP": bootstrap}
    gateway = None
    try:
        create_topics(bootstrap, [isolated.topics.events], 2)
        gateway = start_gateway(env, isolated.settings.home, tmp_path / "gateway.log")
        key = gateway.key("water")
        assert gateway.post(key, an_event("before-stop")).status_code == 202
        svc.stop(broker)
        started = time.monotonic()
        down = gateway.post(key, [an_event("during-1"), an_event("during-2")], BATCH)
        assert down.status_code == 503, down.text
        assert int(down.headers["Retry-After"]) >= 1
        body = down.json()
        assert "accepted" not in body and body["status"] == 503
        assert time.monotonic() - started < 15
        single = gateway.post(key, an_event("during-3"))
        assert single.status_code == 503 and "accepted" not in single.json()
    finally:
        if gateway is not None:
            stop_gateway(gateway)
        svc.stop(broker)
