"""The cap on records per poll of Faust's consumer while it reads bundles (streams/faust_patches.py
`poll_cap`, `_bounded_poll`): a worker behind the bridge must not hold everything it fetched."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from cityops.streams import faust_patches
from cityops.streams.faust_patches import BUNDLE_POLL_RECORDS, poll_cap

BUNDLES = {"x.city.bundles", "x.city.readings"}


def tps(*topics: str) -> set[TP]:
    return {TP(topic, n) for n, topic in enumerate(topics)}


def test_a_poll_that_reads_bundles_is_capped():
    assert poll_cap(tps("x.city.bundles"), None, BUNDLES) == BUNDLE_POLL_RECORDS
    assert poll_cap(tps("x.city.readings", "x.other"), None, BUNDLES) == BUNDLE_POLL_RECORDS


def test_a_smaller_configured_limit_stays():
    assert poll_cap(tps("x.city.bundles"), 3, BUNDLES) == 3
    assert poll_cap(tps("x.city.bundles"), 500, BUNDLES) == BUNDLE_POLL_RECORDS


def test_recovery_reads_changelogs_without_the_cap():
    changelogs = tps("x.cityops-incidents-changelog", "x.cityops-timers-changelog")
    assert poll_cap(changelogs, None, BUNDLES) is None
    assert poll_cap(changelogs, 500, BUNDLES) == 500
    assert poll_cap(set(), None, BUNDLES) is None
    assert poll_cap(None, 7, BUNDLES) == 7


class Subscriptions:
    def fetch_context(self):
        return contextlib.nullcontext()


class Fetcher:
    """Records what Faust's `_fetch_records` asks aiokafka's fetcher for."""

    _closed = False
    _subscriptions = Subscriptions()

    def __init__(self) -> None:
        self.asked: list[int | None] = []

    async def fetched_records(self, partitions, timeout=None, max_records=None):
        self.asked.append(max_records)
        return {}


class Consumer:
    _closed = False

    def __init__(self) -> None:
        self._fetcher = Fetcher()


class Flow:
    flow_active = True


@pytest.fixture
def patched():
    faust_patches.apply("x.city.bundles")
    return AIOKafkaConsumerThread._fetch_records


def test_the_cap_reaches_aiokafkas_fetcher(patched):
    thread = AIOKafkaConsumerThread.__new__(AIOKafkaConsumerThread)
    thread.consumer = Flow()
    consumer = Consumer()
    asyncio.run(patched(thread, consumer, tps("x.city.bundles"), timeout=0.1, max_records=None))
    asyncio.run(patched(thread, consumer, tps("x.cityops-incidents-changelog"), max_records=None))
    assert consumer._fetcher.asked == [BUNDLE_POLL_RECORDS, None]
    assert patched.__wrapped__ is not patched
