"""A flood of reports aimed at the repeat index, through the real broker to a real worker and real
ClickHouse: ~700 reports of one category on one street, each with a distinct 500-character address
(every one opens an incident), and the same number over one micro-grid. Every report must be
stored, the worker must stay up, a normal report published afterwards must be processed, and no
record on any of the stack's topics (changelogs included) may be over Kafka's 1 MiB limit.

Before the index was split into small values, one street's candidates for a category were one
table value: these addresses (1,500 bytes of UTF-8 each) made it a 1.1 MB changelog record, and
the bridge's bundles 1.2 MB. A Kafka broker with its default limit refuses such a record, the
commit fails, the worker stops, and every restart replays the same failure; the embedded test
broker takes larger records, so the test reads back what was produced and checks its size."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, TopicPartition

from cityops.schemas.event_types import MAX_ADDRESS_CHARS
from cityops.schemas.registry import load_registry
from tests.integration.test_engine import MICRO, Stack, a_report, make_stack

FLOOD = 720
STREET = MICRO[:9]
# Kafka's default broker limit (message.max.bytes) is 1 MiB per record batch; the embedded test
# broker accepts larger records, so the test reads back what was produced and checks its size.
BROKER_LIMIT = 2**20
CATEGORY = "noise"


@pytest.fixture
def flood_stack(request, services, tmp_path):
    """A worker of this test alone: the flood must not share a worker with other scenarios."""
    stack = make_stack(request, services.bootstrap, services.clickhouse, tmp_path / "flood")
    stack.start()
    yield stack
    stack.stop()
    stack.ch.disconnect()


def long_address(n: int) -> str:
    """A distinct address of exactly MAX_ADDRESS_CHARS characters (3 bytes each in UTF-8)."""
    head = f"建邺区江东中路{n}号A座"
    return head + "楼" * (MAX_ADDRESS_CHARS - len(head))


def street_report(n: int) -> dict:
    """A report of the street with no micro-grid: only its address can link it."""
    event = a_report(CATEGORY, 1, MICRO)
    event["data"]["location"] = {
        "district": MICRO[:6],
        "street": STREET,
        "address": long_address(n),
    }
    return event


def micro_grid_points(count: int) -> list[tuple[float, float]]:
    """Points around the micro-grid's own point, all inside its district."""
    registry = load_registry()
    lat0, lon0 = registry.point(MICRO)
    points = []
    step = 0
    while len(points) < count:
        lat = lat0 + ((step % 40) - 20) * 0.00003
        lon = lon0 + ((step // 40) % 40 - 20) * 0.00003
        step += 1
        if registry.district_at(lat, lon) == MICRO[:6]:
            points.append((round(lat, 6), round(lon, 6)))
    return points


def micro_grid_reports(count: int) -> list[dict]:
    reports = []
    for n, (lat, lon) in enumerate(micro_grid_points(count)):
        event = a_report(CATEGORY, 1, MICRO)
        event["data"]["location"].update(lat=lat, lon=lon, address=long_address(n))
        reports.append(event)
    return reports


def stored(stack: Stack, ids: list[str]) -> int:
    return stack.q(
        "SELECT uniqExact(id) FROM {db}.events WHERE id IN %(ids)s", {"ids": tuple(ids)}
    )[0][0]


def largest_records(stack: Stack) -> dict[str, int]:
    """The largest record (key, value and headers) of every topic of the stack, changelogs
    included, as the broker holds them."""
    consumer = KafkaConsumer(
        bootstrap_servers=stack.settings.bootstrap,
        enable_auto_commit=False,
        fetch_max_bytes=64 * 2**20,
        max_partition_fetch_bytes=64 * 2**20,
        consumer_timeout_ms=2000,
    )
    try:
        prefix = stack.settings.topic_prefix
        topics = sorted(t for t in consumer.topics() if t.startswith(prefix))
        assert any(t.endswith("repeats-changelog") for t in topics), topics
        parts = [
            TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
        ]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        largest = dict.fromkeys(topics, 0)
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, "could not read the topics back in 60 s"
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    size = len(r.key or b"") + len(r.value or b"")
                    size += sum(len(k) + len(v or b"") for k, v in r.headers or ())
                    largest[tp.topic] = max(largest[tp.topic], size)
        return largest
    finally:
        consumer.close()


def no_record_exceeds_the_broker_limit(stack: Stack) -> None:
    largest = largest_records(stack)
    over = {topic: size for topic, size in largest.items() if size > BROKER_LIMIT}
    assert not over, f"records over the broker's {BROKER_LIMIT}-byte limit: {over}"


def a_normal_report_is_processed(stack: Stack) -> None:
    other = "3201050010010102"
    report = a_report("tree_fall", 2, other)
    stack.send(report)
    stack.wait(
        "the incident of a normal report published after the flood",
        lambda: stack.q(
            "SELECT count() FROM {db}.incidents_current i INNER JOIN "
            "(SELECT incident_id FROM {db}.events WHERE id = %(id)s) e USING incident_id",
            {"id": report["id"]},
        )[0][0],
        timeout=60,
    )
    assert stack.worker.poll() is None, "the worker stopped"


def test_distinct_long_addresses_on_one_street_are_all_stored(flood_stack):
    reports = [street_report(n) for n in range(FLOOD)]
    flood_stack.send(*reports)
    ids = [r["id"] for r in reports]
    flood_stack.wait(
        f"all {FLOOD} reports with distinct addresses in events",
        lambda: stored(flood_stack, ids) == FLOOD,
        timeout=180,
    )
    # Distinct addresses without a micro-grid or coordinates: each opened its own incident.
    incidents = flood_stack.q(
        "SELECT uniqExact(incident_id) FROM {db}.events WHERE id IN %(ids)s", {"ids": tuple(ids)}
    )[0][0]
    assert incidents == FLOOD
    a_normal_report_is_processed(flood_stack)
    no_record_exceeds_the_broker_limit(flood_stack)
    # A repeat of one of them (the same address in other case) still finds its incident.
    repeat = street_report(7)
    repeat["data"]["location"]["address"] = long_address(7).replace("A座", "a座")
    flood_stack.send(repeat)
    first = flood_stack.q(
        "SELECT incident_id FROM {db}.events WHERE id = %(id)s", {"id": reports[7]["id"]}
    )[0][0]
    flood_stack.wait(
        "the repeat of report 7 linked to its incident",
        lambda: (
            flood_stack.q(
                "SELECT incident_id FROM {db}.events WHERE id = %(id)s", {"id": repeat["id"]}
            )
            == [(first,)]
        ),
    )


def test_a_flood_over_one_micro_grid_is_all_stored(flood_stack):
    reports = micro_grid_reports(FLOOD)
    flood_stack.send(*reports)
    ids = [r["id"] for r in reports]
    flood_stack.wait(
        f"all {FLOOD} reports of one micro-grid in events",
        lambda: stored(flood_stack, ids) == FLOOD,
        timeout=180,
    )
    # One matter: every later report is a repeat of the first one's incident.
    linked = flood_stack.q(
        "SELECT uniqExact(incident_id) FROM {db}.events WHERE id IN %(ids)s", {"ids": tuple(ids)}
    )[0][0]
    assert linked == 1
    a_normal_report_is_processed(flood_stack)
    no_record_exceeds_the_broker_limit(flood_stack)


def test_the_flood_builders_are_what_the_attack_needs():
    addresses = {long_address(n) for n in range(FLOOD)}
    assert len(addresses) == FLOOD
    assert all(len(a) == MAX_ADDRESS_CHARS for a in addresses)
    # Together more than the broker's 1 MiB message limit: one table value cannot hold them.
    assert sum(len(a.encode()) for a in addresses) > 2**20
