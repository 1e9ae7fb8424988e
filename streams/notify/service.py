"""The notifier (`cityops notify`, started by `cityops up` when rules.toml has `[[notify]]`
targets): its own consumer group on city.incidents, so the engine never waits for it.

Per fetched batch of incident updates, in order: the notifications each update triggers
(triggers.py) that have not reached an end yet are delivered — every attempt stored in ClickHouse
`notifications` before the next — and only then are the batch's offsets committed. A crash
re-delivers the batch; notifications already delivered, failed or given up (stored) are skipped,
so each (notification, target) reaches its end once. At-least-once: a crash between a successful
POST and storing it sends that one again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from cityops.settings import Settings, kafka_connection
from cityops.storage import notifications as table
from cityops.streams.notify import deliver as d
from cityops.streams.notify.config import Target, load_targets
from cityops.streams.notify.formats import facts, incident_url, request_for
from cityops.streams.notify.triggers import Notification, notifications

log = logging.getLogger(__name__)
CHANGED_TYPE = "city.incident.changed.v1"  # streams/incidents/out.py
REMEMBERED = 10_000  # (notification, target) pairs known finished without asking ClickHouse
STORE_RETRY_SECONDS = (0.5, 1, 2, 5)

Post = Callable[[str, bytes, dict[str, str], float], d.Answer]


def group_id(settings: Settings) -> str:
    return f"{settings.topic_prefix}cityops-notify"


class Notifier:
    """Moves data only: decisions are in triggers.py, formats.py and deliver.py."""

    def __init__(
        self,
        settings: Settings,
        targets: list[Target],
        client: Any,
        *,
        post: Post = d.post,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.targets = {t.name: t for t in targets}
        self.client = client
        self.db = settings.clickhouse.database
        self.post = post
        self.sleep = sleep
        self.page_base = f"http://127.0.0.1:{settings.dashboard_port}"
        self.done: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.delivered = 0

    # -- one batch ------------------------------------------------------------------------------
    async def handle(self, values: list[bytes]) -> None:
        """Every notification the updates trigger reaches an end (or was already stored so)."""
        work: list[tuple[Notification, dict[str, Any]]] = []
        for value in values:
            data = changed_data(value)
            if data is not None:
                work += [(n, data) for n in notifications(data, list(self.targets.values()))]
        pending = [(n, data) for n, data in work if (n.id, n.target) not in self.done]
        if not pending:
            return
        finished = await self._db(
            table.finished,
            {n.incident_id for n, _ in pending},
            {(n.id, n.target) for n, _ in pending},
        )
        for n, data in pending:
            key = (n.id, n.target)
            if key in finished or key in self.done:
                self._remember(key)
                continue
            await self.deliver(n, data)
            self._remember(key)

    async def deliver(self, n: Notification, data: dict[str, Any]) -> str:
        target = self.targets[n.target]
        url = incident_url(target.page_base or self.page_base, n.incident_id)
        content = facts(data, n.trigger, n.id, url)
        attempt = 0
        while True:
            attempt += 1
            address, body, headers = request_for(
                target.kind, target.url, target.secret, content, int(time.time() * 1000)
            )
            answer = await asyncio.to_thread(
                self.post, address, body, headers, target.timeout_seconds
            )
            result = d.outcome(target.kind, answer, attempt, target.max_attempts)
            row = (
                n.incident_id, n.id, n.trigger, n.target, target.kind, attempt, table.utc_now(),
                result, answer.status, d.error_text(target.kind, answer),
            )  # fmt: skip
            await self._db(table.insert_attempts, [row])
            log.info(
                "notification %s to %s: attempt %d %s (HTTP %s)",
                n.id, n.target, attempt, result, answer.status or "-",
            )  # fmt: skip
            if result != d.RETRY:
                self.delivered += result == d.DELIVERED
                return result
            await self.sleep(d.backoff(attempt, target.backoff_seconds, target.max_backoff_seconds))

    def _remember(self, key: tuple[str, str]) -> None:
        self.done[key] = None
        self.done.move_to_end(key)
        while len(self.done) > REMEMBERED:
            self.done.popitem(last=False)

    async def _db(self, fn, *args):
        """A ClickHouse call, retried until it succeeds: nothing is committed past an attempt
        that was not stored."""
        for pause in (*STORE_RETRY_SECONDS, None):
            try:
                return await asyncio.to_thread(fn, self.client, self.db, *args)
            except Exception as exc:  # noqa: BLE001 - a network or server error: wait, retry
                if pause is None:
                    raise
                log.warning("ClickHouse: %s; retrying in %s s", type(exc).__name__, pause)
                await self.sleep(pause)
        raise AssertionError("unreachable")

    # -- the consumer loop ----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.errors import CommitFailedError

        from cityops.schemas.topics import Topics

        group = group_id(self.settings)
        consumer = AIOKafkaConsumer(
            Topics(self.settings.topic_prefix).incidents,
            **kafka_connection(self.settings.kafka).aiokafka(),
            group_id=group,
            client_id=f"{group}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.settings.fetch_wait_ms,  # settings.py
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
            max_poll_interval_ms=900_000,  # a batch may wait on slow receivers
        )
        await consumer.start()
        log.info("notifier: %d target(s), group %s", len(self.targets), group)
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=100)
                values = [r.value for records in batches.values() for r in records]
                if not values:
                    continue
                await self.handle(values)
                try:
                    await consumer.commit()
                except CommitFailedError as exc:  # a rebalance: the batch comes again
                    log.warning("notifier: commit refused (%s); the batch is redelivered", exc)
        finally:
            await consumer.stop()


def changed_data(value: bytes | None) -> dict[str, Any] | None:
    """The `data` of a city.incident.changed.v1 message, or None for anything else."""
    try:
        message = json.loads(value or b"")
    except ValueError:
        log.warning("notifier: a city.incidents record is not JSON; skipped")
        return None
    if not isinstance(message, dict) or message.get("type") != CHANGED_TYPE:
        return None
    data = message.get("data")
    return data if isinstance(data, dict) else None


def run_notifier(settings: Settings) -> int:
    """`cityops notify`: runs until SIGTERM or SIGINT."""
    from cityops.logjson import configure_logging
    from cityops.storage.client import connect

    configure_logging("notifier", settings.log_level)
    targets = load_targets()
    if not targets:
        log.info("notifier: no [[notify]] targets in the rules file; nothing to do")
        return 0
    client = connect(settings.clickhouse)
    notifier = Notifier(settings, targets, client)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        runner = asyncio.ensure_future(notifier.run(stop))
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not runner.done():
            runner.cancel()  # an attempt in flight is repeated after the restart (not committed)
        stopper.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        if runner.done() and not runner.cancelled() and runner.exception():
            raise runner.exception()  # type: ignore[misc]

    try:
        asyncio.run(main())
    finally:
        client.disconnect()
    return 0
