"""When the incident engine fails on a bundle it stops the worker: the process really exits with
a non-zero status (a supervisor restarts it from the committed offsets), instead of Faust
restarting the agent without that bundle while its commits stay stuck behind it."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from cityops.deploy import services as svc
from cityops.schemas.topics import Topics
from cityops.streams.halt import EXIT_ENGINE_FAILED
from tests.integration.test_engine import a_report, incident_of, make_stack
from tests.waiting import wait_until


async def send_raw(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"0", partition=0)
    finally:
        await producer.stop()


def test_a_bundle_the_engine_cannot_apply_ends_the_worker_with_a_failure_status(
    request, services, tmp_path
):
    stack = make_stack(request, services.bootstrap, services.clickhouse, tmp_path / "halt")
    stack.start()
    try:
        report = a_report("noise", 1, "3201050010010104")
        stack.send(report)
        incident_of(stack, report["id"])  # the worker is up and applying bundles
        bundles = Topics(stack.settings.topic_prefix).bundles
        asyncio.run(send_raw(stack.settings.bootstrap, bundles, b"\xc1 not a bundle"))
        worker = stack.worker
        assert worker is not None
        code = wait_until(
            worker.poll, 60, "the worker's exit", details=lambda: svc.log_tail(stack.log, 30)
        )
        assert code == EXIT_ENGINE_FAILED, svc.log_tail(stack.log, 30)
        assert "incident engine failed on a bundle; stopping the worker" in stack.log.read_text()
    finally:
        stack.stop()
        stack.ch.disconnect()
