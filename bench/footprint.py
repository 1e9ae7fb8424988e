"""What one event costs in storage: ClickHouse rows and bytes per table and Kafka records and bytes
per topic, after one worker processed N events of the simulator's mix. The capacity model
(docs/capacity.md) sizes disks and brokers from these numbers.

    python -m cityops.bench.footprint [--events 20000]   # writes bench/results/footprint.json
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json

from cityops.bench.env import RESULTS, bench_services, machine
from cityops.bench.events import event_mix
from cityops.bench.workers import measure, start_workers, stop_workers
from cityops.schemas.topics import Topics
from cityops.settings import load_settings
from cityops.storage.client import connect


def event_kinds(pairs) -> dict[str, int]:
    """How many events of each type (and channel, for reports) the mix holds."""
    kinds: collections.Counter[str] = collections.Counter()
    for _key, value in pairs:
        event = json.loads(value)
        channel = (event.get("data") or {}).get("channel")
        kinds[f"{event['type']}/{channel}" if channel else event["type"]] += 1
    return dict(kinds.most_common())


def clickhouse_footprint(client, database: str) -> dict[str, dict]:
    """Rows and bytes of every table of `database` (materialized views' inner tables included),
    from the active parts; compressed bytes are what the disk holds."""
    rows = client.execute(
        "SELECT table, sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes) "
        "FROM system.parts WHERE database = %(db)s AND active GROUP BY table ORDER BY table",
        {"db": database},
    )
    return {
        table: {"rows": int(n), "compressed_bytes": int(c), "uncompressed_bytes": int(u)}
        for table, n, c, u in rows
    }


def kafka_footprint(connection, prefix: str) -> dict[str, dict]:
    """Records and bytes (key + value + header keys and values) of every topic whose name starts
    with `prefix`, read from the beginning to the end of each partition."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**connection.kafka_python(), enable_auto_commit=False)
    try:
        topics = sorted(t for t in consumer.topics() if t.startswith(prefix))
        result = {}
        for topic in topics:
            parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            records = size = 0
            idle = 0
            while idle < 3:
                batch = consumer.poll(timeout_ms=1000, max_records=10_000)
                if not batch:
                    idle += 1
                    continue
                idle = 0
                for messages in batch.values():
                    for m in messages:
                        records += 1
                        size += len(m.key or b"") + len(m.value or b"")
                        size += sum(len(k) + len(v or b"") for k, v in m.headers or ())
            result[topic[len(prefix) :]] = {"records": records, "bytes": size}
        return result
    finally:
        consumer.close()


def run(events: int) -> dict:
    settings = load_settings()
    with bench_services(settings) as env:
        run_settings, env_vars = env.isolated("footprint")
        pairs = event_mix(events)
        from cityops.bench.events import publish_all

        asyncio.run(publish_all(env.bootstrap, Topics(run_settings.topic_prefix).events, pairs))
        procs = start_workers(env_vars, 1, run_settings.home)
        client = connect(run_settings.clickhouse)
        try:
            measure(client, run_settings.database, events, "events", 900, with_rejects=True)
            # One more flush interval for the last incident snapshots and transitions.
            client.execute("SELECT sleepEachRow(0.5) FROM system.numbers LIMIT 4")
        finally:
            stop_workers(procs)
        storage = clickhouse_footprint(client, run_settings.database)
        # What stays on disk once background merges ran (ReplacingMergeTree keeps the latest
        # incident versions; larger parts compress better).
        for table in storage:
            client.execute(f"OPTIMIZE TABLE {run_settings.database}.`{table}` FINAL")
        merged = clickhouse_footprint(client, run_settings.database)
        client.disconnect()
        broker = kafka_footprint(run_settings.kafka, run_settings.topic_prefix)
        env.drop_databases()
    event_bytes = sum(len(k) + len(v) for k, v in pairs)

    def per_event(table: dict, key: str) -> float:
        return round(sum(t[key] for t in table.values()) / events, 2)

    return {
        "bench": "footprint",
        "machine": machine(),
        "events": events,
        "mix": event_kinds(pairs),
        "event_bytes_mean": round(event_bytes / events, 1),
        "clickhouse": storage,
        "clickhouse_rows_per_event": per_event(storage, "rows"),
        "clickhouse_compressed_bytes_per_event": per_event(storage, "compressed_bytes"),
        "clickhouse_uncompressed_bytes_per_event": per_event(storage, "uncompressed_bytes"),
        "clickhouse_merged": merged,
        "clickhouse_merged_rows_per_event": per_event(merged, "rows"),
        "clickhouse_merged_compressed_bytes_per_event": per_event(merged, "compressed_bytes"),
        "kafka": broker,
        "kafka_records_per_event": per_event(broker, "records"),
        "kafka_bytes_per_event": per_event(broker, "bytes"),
        "method": (
            "N simulator events published, one worker until all stored, then system.parts "
            "(active parts) per table, again after OPTIMIZE FINAL of each, and every topic "
            "of the run read back from offset 0; "
            "Kafka bytes are key + value + headers, before batch overhead and compression"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    result = run(args.events)
    (RESULTS / "footprint.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
