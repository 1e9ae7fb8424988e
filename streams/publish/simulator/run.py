"""`cityops simulate`: paced report traffic from the generator, departments' answers to their
tasks, a progress bar on a terminal and a closing summary.

Time: the simulator runs on the city's clock, `epoch + (real - epoch) * CITYOPS_CLOCK_SPEED`, the
same clock as the incident engine. `rate` is real events per second (the load on the bus);
`duration` is city-clock seconds, so a 60-second scenario at clock speed 6 takes 10 real seconds.
"""

from __future__ import annotations

import heapq
import itertools
import random
import secrets
import signal
import sys
import threading
import time
import uuid
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cityops.schemas.binding import format_time
from cityops.schemas.registry import Registry, load_registry
from cityops.streams.publish.simulator import lifecycle
from cityops.streams.publish.simulator.claims import ClaimsPlay
from cityops.streams.publish.simulator.scenarios import SCENARIOS
from cityops.streams.publish.simulator.sensors import SensorPopulation
from cityops.streams.publish.simulator.traffic import Places, everyday_report, source_of

LOCAL = ZoneInfo("Asia/Shanghai")
REPEAT_SHARE = 0.06  # a citizen calls again about a matter already reported
DEFAULT_INTERVAL = 0.05  # seconds between events of generate() (20 events/s of city time)


class Generator:
    """The report stream of one seed and scenario: `next(now)` is the next report event."""

    def __init__(self, seed: int, scenario: str, registry: Registry | None = None) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
        self.seed = seed
        self.scenario = SCENARIOS[scenario]
        self.rng = random.Random(f"cityops-sim:{seed}:{scenario}")
        self.places = Places(registry or load_registry())
        self.recent: deque[dict[str, Any]] = deque(maxlen=200)
        self.count = 0

    def next(self, now: datetime, stamp: datetime | None = None) -> dict[str, Any]:
        """The next report; `now` is the city time (it sets the hour of day), `stamp` the
        event's `time` when it differs (the run loop stamps real time: the engine maps event
        times onto its own clock)."""
        rng = self.rng
        index = self.count
        self.count += 1
        scenario = self.scenario
        if scenario.surge is not None and (index == 0 or rng.random() < scenario.surge_share):
            data = scenario.surge(rng, self.places, index)
        elif self.recent and rng.random() < REPEAT_SHARE:
            data = _repeat(rng, rng.choice(self.recent))
        else:
            data = everyday_report(rng, self.places, now.astimezone(LOCAL).hour)
        if data["channel"] in ("hotline", "app", "grid_patrol"):
            self.recent.append(data)
        return envelope(data, str(uuid.UUID(int=rng.getrandbits(128), version=4)), stamp or now)


def envelope(data: dict[str, Any], event_id: str, time: datetime) -> dict[str, Any]:
    """The city.report.v1 CloudEvent around a report's data: its source from the channel and
    category, its partition key the street (the district when that is all it names)."""
    location = data["location"]
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": f"/departments/{source_of(data['channel'], data['category'])}",
        "type": "city.report.v1",
        "time": format_time(time),
        "datacontenttype": "application/json",
        "partitionkey": location.get("street") or location["district"],
        "data": data,
    }


def _repeat(rng: random.Random, original: dict[str, Any]) -> dict[str, Any]:
    data = {
        **original,
        "channel": "hotline" if rng.random() < 0.7 else "app",
        "title": "再次反映：" + original["title"].split("：", 1)[-1],
    }
    if rng.random() < 0.6:  # the same caller again; otherwise a neighbour
        data["reporter_hash"] = original.get("reporter_hash") or f"{rng.getrandbits(64):016x}"
    else:
        data["reporter_hash"] = f"{rng.getrandbits(64):016x}"
    data["external_ref"] = f"12345-{rng.randrange(10**9):09d}"
    data.pop("sensor", None)
    return data


def generate(
    seed: int,
    scenario: str,
    start_time: datetime,
    n: int,
    *,
    interval: float = DEFAULT_INTERVAL,
    registry: Registry | None = None,
) -> list[dict]:
    """The first `n` report events of a seed and scenario, `interval` city seconds apart. Pure:
    the same arguments give the same events."""
    generator = Generator(seed, scenario, registry)
    if start_time.tzinfo is None:
        start_time = start_time.replace(tzinfo=UTC)
    return [generator.next(start_time + timedelta(seconds=i * interval)) for i in range(n)]


# -- the run loop ---------------------------------------------------------------------------------
class CityClock:
    def __init__(self, speed: float, epoch: float | None) -> None:
        self.speed = speed
        self.epoch = time.time() if epoch is None else epoch

    def now(self) -> datetime:
        real = time.time()
        return datetime.fromtimestamp(self.epoch + (real - self.epoch) * self.speed, UTC)


class Responder:
    """Listens to every department's task queue in a thread and plans their answers."""

    def __init__(self, settings, seed: int, scenario: str) -> None:
        from cityops.schemas.taxonomy import DEPARTMENTS
        from cityops.streams.publish.tasks import TaskQueue

        self.seed, self.scenario = seed, scenario
        self.queue = TaskQueue(settings, list(DEPARTMENTS), group=False, poll_ms=200)
        self.inbox: deque = deque()
        self.planned: set[tuple[str, str, int, str, bool]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="sim-tasks", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                self.inbox.extend(self.queue.poll())
            except Exception:  # noqa: BLE001 - a broker hiccup: keep listening
                time.sleep(0.5)

    def due_plans(self, now: datetime) -> list[lifecycle.Planned]:
        plans = []
        while self.inbox:
            task = self.inbox.popleft()
            # a lead upheld after its return is assigned again (its notice says so); a callback
            # comes once per resolution (an answer to a repeated notice is refused, harmless)
            again = str(task.data.get("reason", "")).startswith("return not upheld")
            key = (task.incident_id, task.department, task.round, task.kind, again)
            if not task.open or (key in self.planned and task.kind != "callback"):
                continue
            self.planned.add(key)
            plans.extend(lifecycle.plan(task, now, self.seed, self.scenario))
        return plans

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.queue.close()


def reading_event(data: dict[str, Any], at: float, stamp: datetime) -> dict[str, Any]:
    """The city.reading.v1 CloudEvent of one simulated reading due at `at` (city seconds); its
    id is the sensor's and the due second's, so a resend is the same reading."""
    location = data["location"]
    return {
        "specversion": "1.0",
        "id": f"rd:{data['sensor_id']}:{int(at)}",
        "source": "/departments/iot",
        "type": "city.reading.v1",
        "time": format_time(stamp),
        "datacontenttype": "application/json",
        "partitionkey": location.get("street") or location["district"],
        "data": data,
    }


def run(
    settings,
    *,
    rate: float,
    duration: float,
    scenario: str,
    seed: int | None,
    progress: bool,
    sensors: float = 1.0,
    claims: bool = True,
) -> int:
    from cityops.logjson import configure_logging
    from cityops.sdk import Publisher

    configure_logging("simulator", settings.log_level)
    if seed is None:
        seed = secrets.randbits(32)
    clock = CityClock(settings.clock_speed, settings.clock_epoch)
    generator = Generator(seed, scenario)
    from cityops.streams.publish.simulator.resend import Resender

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    resender = Resender()
    failures = resender.lost
    publisher = Publisher(settings, None, on_error=lambda event_id, exc: resender.failed(event_id))

    def send(event: dict) -> bool:
        """Publish one event; False (and queued for a resend) while the broker is away."""
        event.setdefault("id", str(uuid.uuid4()))  # fixed now, so a resend keeps it
        resender.sent(event)
        try:
            publisher.publish(event)
        except Exception as exc:  # noqa: BLE001 - no broker to take it (KafkaTimeoutError …)
            resender.retry_later(event)
            print(f"simulator: broker unavailable ({exc}); retrying", file=sys.stderr, flush=True)
            stop.wait(1.0)
            return False
        return True

    responder = Responder(settings, seed, scenario)
    population = (
        SensorPopulation(seed, scenario, generator.places.registry, sensors) if sensors else None
    )
    play = ClaimsPlay(seed, generator.places.registry) if claims else None
    city_start = last_city = clock.now().timestamp()
    by_type: Counter[str] = Counter()
    by_district: Counter[str] = Counter()
    schedule: list[tuple[datetime, int, dict]] = []
    order = itertools.count()
    show = progress and sys.stderr.isatty()
    started = time.monotonic()
    real_duration = duration / settings.clock_speed if duration else 0.0
    reports = 0
    last_bar = 0.0
    try:
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if real_duration and elapsed >= real_duration:
                break
            now = clock.now()
            stamp = datetime.now(UTC)
            due = min(int(elapsed * rate) + 1, reports + max(1, int(rate)))  # catch up ≤ 1 s
            # Events the broker did not acknowledge first, with their own ids.
            retry = resender.due(max(1, int(rate)))
            for i, event in enumerate(retry):
                if not send(event):
                    for rest in retry[i + 1 :]:
                        resender.retry_later(rest)
                    break
            if resender.waiting:
                continue
            while reports < due:
                event = generator.next(now, stamp)
                reports += 1
                by_type[event["type"]] += 1
                by_district[event["data"]["location"]["district"]] += 1
                if not send(event):
                    break
            if population is not None:
                # The sensors' readings due since the last turn (city time), stamped now.
                city = now.timestamp()
                for at, data in population.readings(city_start, last_city, city):
                    event = reading_event(data, at, stamp)
                    by_type[event["type"]] += 1
                    send(event)
                last_city = city
            if play is not None:  # resident-unit claims, paced on real time (docs/claims.md)
                for event in play.due(elapsed, stamp):
                    by_type[event["type"]] += 1
                    send(event)
            for planned in responder.due_plans(now):
                heapq.heappush(schedule, (planned.due, next(order), planned.event))
            while schedule and schedule[0][0] <= now:
                _, _, event = heapq.heappop(schedule)
                event["time"] = format_time(stamp)  # real time; the engine maps it
                send(event)
                by_type[event["type"]] += 1
            if show and elapsed - last_bar >= 0.5:
                last_bar = elapsed
                _bar(elapsed, real_duration, sum(by_type.values()))
            next_at = started + reports / rate
            stop.wait(max(0.0, min(0.05, next_at - time.monotonic())))
    finally:
        responder.close()
        try:
            publisher.close(timeout=30)
        except Exception:  # noqa: BLE001 - counted through on_error already
            pass
    if show:
        sys.stderr.write("\n")
    _summary(
        seed, scenario, time.monotonic() - started, by_type, by_district, failures, len(schedule)
    )
    return 1 if failures else 0


def _bar(elapsed: float, total: float, sent: int) -> None:
    rate = sent / elapsed if elapsed else 0.0
    if total:
        share = min(1.0, elapsed / total)
        filled = int(share * 30)
        bar = f"[{'#' * filled}{'.' * (30 - filled)}] {share:4.0%}"
    else:
        bar = f"[running {elapsed:6.0f} s]"
    sys.stderr.write(f"\r{bar} {sent} sent, {rate:,.0f}/s ")
    sys.stderr.flush()


def _summary(seed, scenario, seconds, by_type, by_district, failures, pending) -> None:
    registry = load_registry()
    sent = sum(by_type.values()) - len(failures)
    lines = [
        f"simulated {scenario} (seed {seed}) for {seconds:.1f} s: {sent} events sent"
        f" ({sent / seconds if seconds else 0:,.0f}/s)"
    ]
    if failures:
        lines.append(f"not delivered: {len(failures)}")
    if pending:
        lines.append(f"department actions still scheduled at the end: {pending}")
    lines.append("by type:")
    lines += [f"  {name:28} {count:>8}" for name, count in by_type.most_common()]
    lines.append("by district:")
    for code, count in by_district.most_common():
        unit = registry.unit(code)
        name = f"{unit.name_zh} {unit.name_en or ''}".strip() if unit else code
        lines.append(f"  {code} {name:24} {count:>8}")
    print("\n".join(lines), flush=True)
