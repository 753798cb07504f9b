"""Ingest benchmark: Kafka -> ClickHouse end to end, against the engine's own bulk insert.

    .venv/bin/python bench/ingest.py [--records 2000000] [--per-message 1000]

1. publishes N native records, ``--per-message`` per Kafka message (NDJSON), to a fresh
   topic on the local broker (scripts/local-kafka.sh start);
2. runs the real ingester until caught up and times it (records/s end to end: consume,
   frame, insert, decode in the engine, rollups, commit);
3. inserts the very same newline-delimited JSON straight into ``requests`` with the
   engine's JSONEachRow parser (same table, same views downstream) and times that, once
   before the pipeline runs and once after (the first insert into fresh tables is slower);
4. prints both rates and their ratio. Uses its own embedded ClickHouse folder; deletes it and
   the topic at the end.

Two more figures say where the pipeline's time goes:

- consume only: the CPU kafka-python spends fetching every message, nothing stored, with
  the fast receive path of ingest/kafka.py (as the ingester runs it) and with kafka-python's own code
  (measured right after publishing, while the engine is idle);
- engine only: the pipeline's batches (same framing, sizes and writers) stored without Kafka,
  against the bulk insert.

This machine is noisy: compare the ratio, measured in one run, not absolute rates.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson
from clickhouse_connect.driver.client import Client
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgewatch.clickhouse import connect  # noqa: E402
from edgewatch.migrate import migrate  # noqa: E402
from edgewatch.settings import REPO_ROOT, Settings  # noqa: E402
from ingest.batches import Batch, BatchBuilder  # noqa: E402
from ingest.kafka import install_fast_receive, keep_freed_memory, uninstall_fast_receive  # noqa: E402
from ingest.service import Ingester  # noqa: E402
from ingest.writer import BatchWriter  # noqa: E402

SERVICES = [f"service-{i}" for i in range(20)]
WORKLOADS = [f"workload-{i}" for i in range(15)]


def make_messages(total: int, per_message: int, seed: int = 7) -> list[bytes]:
    """NDJSON messages of realistic native records (~330 bytes each)."""
    rng = random.Random(seed)
    start_ms = int(time.time() * 1000) - 3_600_000
    messages, lines = [], []
    for i in range(total):
        code = rng.choices((200, 201, 404, 503, 504), weights=(90, 3, 3, 2, 2))[0]
        lines.append(orjson.dumps({
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((start_ms + i) / 1000))
            + f".{(start_ms + i) % 1000:03d}Z",
            "source_workload": rng.choice(WORKLOADS), "source_namespace": "fleet",
            "destination_service": rng.choice(SERVICES), "destination_namespace": "fleet",
            "destination_kind": "service", "reporter": "source", "request_protocol": "http",
            "method": "GET", "path": f"/api/v1/items/{rng.randrange(1000)}",
            "response_code": code, "response_flags": "UT" if code == 504 else "-",
            "duration_ms": round(rng.lognormvariate(3, 0.8), 3),
            "request_id": uuid.UUID(int=rng.getrandbits(128)).hex, "bytes_sent": rng.randrange(100, 5000),
            "bytes_received": rng.randrange(50, 500),
        }))
        if len(lines) == per_message:
            messages.append(b"\n".join(lines))
            lines = []
    if lines:
        messages.append(b"\n".join(lines))
    return messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--per-message", type=int, default=1000)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--compression", default="none", choices=["none", "lz4", "zstd", "gzip"],
                        help="producer compression (none, as `edgewatch produce` and the simulator send)")
    args = parser.parse_args()

    subprocess.run(["bash", str(REPO_ROOT / "scripts/local-kafka.sh"), "start"], check=True)
    folder = Path(tempfile.mkdtemp(prefix="edgewatch-bench-ingest-"))
    settings = Settings(kafka_bootstrap=args.bootstrap, kafka_topic=f"bench-{uuid.uuid4().hex[:8]}",
                        kafka_group="bench-ingest", clickhouse_url=f"chdb://{folder}")
    try:
        run(args, settings)
    finally:  # the topic (862 MB by default) and the engine folder would pile up run after run
        admin = KafkaAdminClient(bootstrap_servers=args.bootstrap)
        if settings.kafka_topic in admin.list_topics():
            admin.delete_topics([settings.kafka_topic])
        admin.close()
        shutil.rmtree(folder, ignore_errors=True)


def run(args: argparse.Namespace, settings: Settings) -> None:
    client = connect(settings.clickhouse_url)
    migrate(client)

    t = time.perf_counter()
    messages = make_messages(args.records, args.per_message)
    size = sum(len(m) for m in messages)
    print(f"generated {args.records:,} records in {len(messages):,} messages, {size / 1e6:.0f} MB "
          f"({time.perf_counter() - t:.1f} s)", flush=True)

    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap)
    admin.create_topics([NewTopic(settings.kafka_topic, num_partitions=4, replication_factor=1)])
    admin.close()
    t = time.perf_counter()
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=20, batch_size=1 << 20,
                             max_request_size=8 << 20,
                             compression_type=None if args.compression == "none" else args.compression)
    for i, message in enumerate(messages):
        producer.send(settings.kafka_topic, message, partition=i % 4)
    producer.flush()
    producer.close()
    print(f"published in {time.perf_counter() - t:.1f} s ({args.compression})", flush=True)

    uninstall_fast_receive()
    own = consume_only(args.bootstrap, settings.kafka_topic)
    install_fast_receive()
    keep_freed_memory()  # as the ingester does
    fast = consume_only(args.bootstrap, settings.kafka_topic)
    print(f"consume only ({size / 1e6:.0f} MB, nothing stored): {fast:.1f} s of CPU with the fast receive path "
          f"(ingest/kafka.py), {own:.1f} s with kafka-python's own code", flush=True)

    data = b"\n".join(messages) + b"\n"
    bulk_before = bulk_insert(client, data, args.records)
    print(f"engine bulk JSONEachRow (before): {args.records / bulk_before:,.0f} records/s", flush=True)

    t = time.perf_counter()
    stats = Ingester(settings, lambda: connect(settings.clickhouse_url)).run(until_caught_up=True)
    ingest_s = time.perf_counter() - t
    stored = client.command("SELECT count() FROM requests")
    assert stored == args.records, f"stored {stored} of {args.records}"
    print(f"pipeline: {stored:,} records in {ingest_s:.2f} s = {stored / ingest_s:,.0f} records/s "
          f"({stats.batches} batches)", flush=True)

    bulk_after = bulk_insert(client, data, args.records)
    print(f"engine bulk JSONEachRow (after): {args.records / bulk_after:,.0f} records/s", flush=True)
    bulk_s = min(bulk_before, bulk_after)
    engine_s = engine_only(client, settings, messages, args.records)
    print(f"engine only (the pipeline's batches, no Kafka): {args.records / engine_s:,.0f} records/s, "
          f"{bulk_s / engine_s:.2f} of the bulk insert's rate", flush=True)
    print(f"ratio pipeline / best engine bulk = {bulk_s / ingest_s:.2f}  "
          "(target >= 0.8; pipeline target >= 250,000 records/s)")


def consume_only(bootstrap: str, topic: str) -> float:
    """CPU seconds this process spends fetching every message of ``topic`` (nothing stored)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    ends = consumer.end_offsets(partitions)
    cpu = time.process_time()
    while any(consumer.position(tp) < ends[tp] for tp in partitions):
        consumer.poll(timeout_ms=500, max_records=100_000)
    seconds = time.process_time() - cpu
    consumer.close()
    return seconds


def engine_only(client: Client, settings: Settings, messages: list[bytes], records: int) -> float:
    """Seconds to store the pipeline's batches straight from memory: the batches the ingester
    would build (message i in partition i % 4, as published), one writer per lane as it has."""
    builders = [BatchBuilder("engine-only", p, settings.batch_max_records, settings.batch_max_bytes, 1e9)
                for p in range(4)]
    lanes: list[list[Batch]] = [[] for _ in range(settings.ingest_writers)]
    for i, message in enumerate(messages):
        if batch := builders[i % 4].add(i // 4, message, 0.0):
            lanes[batch.partition % len(lanes)].append(batch)
    for builder in builders:
        if batch := builder.take():
            lanes[batch.partition % len(lanes)].append(batch)
    empty_tables(client)
    stop = threading.Event()

    def store(batches: list[Batch]) -> None:
        writer = BatchWriter(connect(settings.clickhouse_url), stop)
        for batch in batches:
            writer.write(batch, batch.dedup_token)

    threads = [threading.Thread(target=store, args=(batches,)) for batches in lanes]
    t = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - t
    assert client.command("SELECT count() FROM requests") == records
    return seconds


def bulk_insert(client: Client, data: bytes, records: int) -> float:
    """Seconds to insert ``data`` straight into an empty ``requests`` (and its views)."""
    empty_tables(client)
    t = time.perf_counter()
    client.raw_insert("requests", None, data, fmt="JSONEachRow",
                      settings={"input_format_skip_unknown_fields": 1, "date_time_input_format": "best_effort"})
    seconds = time.perf_counter() - t
    assert client.command("SELECT count() FROM requests") == records
    empty_tables(client)
    return seconds


def empty_tables(client: Client) -> None:
    """Empty the raw table and the views' tables whose rows the runs count or key on."""
    for table in ("requests", "edge_minute", "service_workloads"):
        client.command(f"TRUNCATE TABLE {table}")


if __name__ == "__main__":
    main()
