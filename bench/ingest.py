"""Ingest benchmark: Kafka -> ClickHouse end to end against the engine's own bulk insert, and the
CPU of a record, by process and by ingester step.

    .venv/bin/python bench/ingest.py [--records 2000000] [--rounds 5] [--cases native/none,native/lz4,...]
    .venv/bin/python bench/ingest.py --quick        # what `make bench` runs: small, one round

A case is a record format and a topic compression:

- ``native``: Edgewatch's own records (~330 bytes), ``--per-message`` (1,000) per Kafka message
  as ``edgewatch produce`` and the simulator send them;
- ``fluentbit``: Istio access-log lines inside Fluent Bit records (~1 KB, the simulator's
  fleetman mesh), one record per Kafka message, as Fluent Bit's Kafka output ships them;
- compression ``none``, ``lz4`` or ``zstd`` (producers in meshes compress).

Per case the records are published once to a fresh topic (4 partitions) on the local broker
(started with scripts/local-kafka.sh only when nothing answers on ``--bootstrap``), then each
round runs, side by side in this order, on emptied tables:

1. bulk: the same newline-delimited JSON in one insert, parsed by the engine: native records
   with ``JSONEachRow`` into ``requests``; Fluent Bit records (which only the decoder reads) as
   one ``ingest_lines`` insert with the writer's settings. The speed to match;
2. engine only: the pipeline's batches (same framing, sizes, writer lanes) stored without Kafka;
3. pipeline: the real ingester in a fresh consumer group until caught up (fetch, frame, insert,
   decode in the engine, rollups, commit).

For the pipeline it reports, from the kernel's counters (bench/cpu.py), CPU-seconds per million
records of the broker and of the ingester process, split into the engine (its own threads, and
the CPU of Python threads inside the engine's query call) and the rest, and the rest by step:
kafka-python's IO thread (fetch, receive), ``consumer.poll`` (records out of fetched batches),
framing (the poll step's submits: batching, framing), the insert call outside the engine
(clickhouse-connect writing the batch to its temporary file), commit, and what is left of the
ingester's main thread. Medians over the rounds; the ratios are taken inside each round.

Consume only, per case: the CPU of fetching every message with nothing stored, with the fast
receive and record paths of ingest/kafka.py and with kafka-python's own code (right after
publishing, while the engine is idle).

Goals (issue #17): end to end >= 1.0x the bulk insert; the ingester's CPU outside the engine
<= 0.3x the engine's. ``--profile FILE`` runs py-spy over one more pipeline run of the first
case and writes its top frames. Uses its own engine folder; deletes it and the topics at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from clickhouse_connect.driver._backend.chdb_backend import ChdbBackend
from clickhouse_connect.driver.client import Client
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cpu import StepClock, ThreadSampler, cpu_of, listener_pid, process_cpu  # noqa: E402
from edgewatch.clickhouse import connect  # noqa: E402
from edgewatch.migrate import migrate  # noqa: E402
from edgewatch.settings import REPO_ROOT, Settings  # noqa: E402
from ingest.batches import Batch, BatchBuilder  # noqa: E402
from ingest.commit import Commit  # noqa: E402
from ingest.framing import frame_message  # noqa: E402
from ingest.kafka import GroupConsumer, install_fast_receive, keep_freed_memory, uninstall_fast_receive  # noqa: E402
from ingest.poll import Poll  # noqa: E402
from ingest.service import Ingester  # noqa: E402
from ingest.writer import EAGER_DECODING, BatchWriter  # noqa: E402

SERVICES = [f"service-{i}" for i in range(20)]
WORKLOADS = [f"workload-{i}" for i in range(15)]
PARTITIONS = 4
E2E_GOAL, OUTSIDE_GOAL = 1.0, 0.3


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


def fluent_bit_records(total: int, distinct: int = 20_000) -> list[bytes]:
    """Fluent Bit records of the simulator's fleetman mesh (an Istio line as ``log``, ~1 KB), one
    per message: ``distinct`` generated over the last hour, repeated up to ``total``."""
    from simulator.formats import encoder
    from simulator.generate import generate
    from simulator.scenarios import load_scenario

    scenario = load_scenario("steady")
    encode = encoder("fluentbit", scenario.base)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    lines: list[bytes] = []
    for report in generate(scenario, start, None, 1000, seed=3):
        lines.append(encode(report))
        if len(lines) == min(distinct, total):
            break
    return [lines[i % len(lines)] for i in range(total)]


@dataclass
class Case:
    fmt: str  # native | fluentbit
    compression: str  # none | lz4 | zstd
    messages: list[bytes]
    records: int
    topic: str = field(default_factory=lambda: f"bench-perf-{uuid.uuid4().hex[:8]}")

    @property
    def name(self) -> str:
        return f"{self.fmt}/{self.compression}"

    @property
    def size(self) -> int:
        return sum(map(len, self.messages))


@dataclass
class Round:
    bulk_s: float
    bulk_cpu: float
    engine_only_s: float
    pipeline_s: float
    broker_cpu: float
    ingester_cpu: float
    engine_cpu: float
    steps: dict[str, float]

    @property
    def e2e(self) -> float:
        return self.bulk_s / self.pipeline_s

    @property
    def outside(self) -> float:
        return self.ingester_cpu - self.engine_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2_000_000, help="native records per case")
    parser.add_argument("--fluentbit-records", type=int, default=500_000,
                        help="Fluent Bit records per case (one per message: publishing them is slow)")
    parser.add_argument("--per-message", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", default="native/none,native/lz4,native/zstd,fluentbit/lz4",
                        help="format/compression, comma-separated")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--quick", action="store_true", help="100,000 native and 50,000 Fluent Bit records, one round")
    parser.add_argument("--profile", metavar="FILE", help="py-spy one more pipeline run of the first case")
    parser.add_argument("--json", type=Path, help="save the medians here (bench/report.py reads them)")
    args = parser.parse_args()
    if args.quick:
        args.records, args.fluentbit_records, args.rounds = 100_000, 50_000, 1

    ensure_broker(args.bootstrap)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))  # the topics are deleted on the way out
    folder = Path(tempfile.mkdtemp(prefix="edgewatch-bench-ingest-"))
    cases: list[Case] = []
    try:
        results = run(args, folder, cases)
        summary = print_table(cases, results)
        save(args.json, args.rounds, summary)
    finally:  # the topics (862 MB for 2M records) and the engine folder would pile up run after run
        admin = KafkaAdminClient(bootstrap_servers=args.bootstrap)
        existing = set(admin.list_topics())
        admin.delete_topics([c.topic for c in cases if c.topic in existing])
        admin.close()
        shutil.rmtree(folder, ignore_errors=True)


def ensure_broker(bootstrap: str) -> None:
    """Start the local broker only when nothing answers: it is shared, maybe started elsewhere."""
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        subprocess.run(["bash", str(REPO_ROOT / "scripts/local-kafka.sh"), "start"], check=True)


def run(args: argparse.Namespace, folder: Path, cases: list[Case]) -> dict[str, list[Round]]:
    settings = Settings(kafka_bootstrap=args.bootstrap, clickhouse_url=f"chdb://{folder}")
    client = connect(settings.clickhouse_url)
    migrate(client)
    broker = listener_pid(int(args.bootstrap.split(",")[0].rsplit(":", 1)[1]))
    print(f"broker pid {broker or 'not found (its CPU is not measured)'}", flush=True)
    native = fluent = None
    for spec in args.cases.split(","):
        fmt, compression = spec.split("/")
        if fmt == "native":
            native = native or make_messages(args.records, args.per_message)
            cases.append(Case(fmt, compression, native, args.records))
        else:
            fluent = fluent or fluent_bit_records(args.fluentbit_records)
            cases.append(Case(fmt, compression, fluent, args.fluentbit_records))
    results: dict[str, list[Round]] = {}
    for case in cases:
        publish(args.bootstrap, case)
        fast, own = consume_only(args.bootstrap, case.topic), consume_only(args.bootstrap, case.topic, own_code=True)
        CONSUME_ONLY[case.name] = fast * 1e6 / case.records, own * 1e6 / case.records
        print(f"  consume only (nothing stored): {fast * 1e6 / case.records:.2f} CPU-s per million records with the "
              f"fast receive and record paths (ingest/kafka.py), {own * 1e6 / case.records:.2f} with kafka-python's "
              "own code", flush=True)
        results[case.name] = []
        for r in range(args.rounds):
            result = one_round(client, settings, case, broker, r)
            results[case.name].append(result)
            print(f"  {case.name} round {r + 1}: pipeline {case.records / result.pipeline_s:,.0f} rec/s, "
                  f"bulk {case.records / result.bulk_s:,.0f} rec/s ({result.e2e:.2f}x), "
                  f"outside/engine CPU {result.outside / result.engine_cpu:.2f}", flush=True)
        if args.json:  # what is done so far, should a later case not finish
            save(args.json, args.rounds, print_table([c for c in cases if c.name in results], results, quiet=True))
    if args.profile:
        profile(client, settings, cases[0], Path(args.profile))
    return results


def publish(bootstrap: str, case: Case) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(case.topic, num_partitions=PARTITIONS, replication_factor=1)])
    admin.close()
    began = time.perf_counter()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=1 << 20, max_request_size=8 << 20,
                             compression_type=None if case.compression == "none" else case.compression)
    for i, message in enumerate(case.messages):
        producer.send(case.topic, message, partition=i % PARTITIONS)
    producer.flush()
    producer.close()
    print(f"{case.name}: {case.records:,} records in {len(case.messages):,} messages, {case.size / 1e6:.0f} MB, "
          f"published in {time.perf_counter() - began:.1f} s", flush=True)


CONSUME_ONLY: dict[str, tuple[float, float]] = {}
"""Case -> CPU-seconds per million records of fetching alone: (ingest/kafka.py's fast paths, kafka-python's own)."""


def consume_only(bootstrap: str, topic: str, own_code: bool = False) -> float:
    """CPU-seconds this process spends fetching every message of ``topic``, nothing stored, with
    ingest/kafka.py's fast paths (as the ingester runs) or with kafka-python's own code."""
    if own_code:
        uninstall_fast_receive()
    else:
        install_fast_receive()
        keep_freed_memory()
    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=2000,
                                 max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        began = process_cpu()
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            consumer.poll(timeout_ms=500)
        seconds = process_cpu() - began
        consumer.close()
    finally:
        install_fast_receive()
    return seconds


def one_round(client: Client, settings: Settings, case: Case, broker: int | None, index: int) -> Round:
    bulk_s, bulk_cpu = bulk_insert(client, case)
    engine_s = engine_only(client, settings, case)
    pipeline_s, broker_cpu, ingester_cpu, engine_cpu, steps = pipeline(client, settings, case, broker, index)
    return Round(bulk_s, bulk_cpu, engine_s, pipeline_s, broker_cpu, ingester_cpu, engine_cpu, steps)


def thread_group(name: str) -> str:
    if name == "MainThread":
        return "main"
    if name.startswith("edgewatch-writer"):
        return "writers"
    if name.startswith("kafka-io"):
        return "kafka IO thread"
    return "python, other"


def pipeline(client: Client, settings: Settings, case: Case, broker: int | None,
             index: int) -> tuple[float, float, float, float, dict[str, float]]:
    """Seconds, broker CPU, ingester CPU, its engine part, and the CPU of each step."""
    empty_tables(client)
    s = settings.model_copy(update={"kafka_topic": case.topic, "kafka_group": f"{case.topic}-{index}"})
    clock = StepClock()
    clock.wrap(GroupConsumer, "poll", "consumer.poll")
    clock.wrap(Poll, "_submit_in_hand", "framing")
    clock.wrap(BatchWriter, "write", "insert call")
    clock.wrap(Commit, "poll", "commit")
    clock.wrap(ChdbBackend, "_query_locked", "engine call")
    ingester = Ingester(s, lambda: connect(s.clickhouse_url))
    try:
        broker_began = process_cpu(broker) if broker else 0.0
        with ThreadSampler(thread_group) as threads, cpu_of() as spent:
            began = time.perf_counter()
            stats = ingester.run(until_caught_up=True)
            seconds = time.perf_counter() - began
    finally:
        clock.restore()
    broker_cpu = process_cpu(broker) - broker_began if broker else 0.0
    assert stats.records == case.records, f"stored {stats.records} of {case.records}"
    groups = threads.by_group()
    total = spent[0] - groups.get("sampler", 0.0)
    # The engine: its own threads, and Python threads' CPU inside its query call (writers, main).
    engine = groups.get("engine", 0.0) + clock.seconds["engine call"]
    steps = {
        "kafka IO thread": groups.get("kafka IO thread", 0.0),
        "consumer.poll": clock.seconds["consumer.poll"],
        "framing": clock.seconds["framing"],
        "insert call": clock.seconds["insert call"],
        "commit": clock.seconds["commit"],
    }
    timed = sum(steps.values()) + clock.seconds["engine call"]
    steps["other"] = max(total - groups.get("engine", 0.0) - timed, 0.0)  # main loop, threads not named here
    return seconds, broker_cpu, total, engine, steps


def profile(client: Client, settings: Settings, case: Case, out: Path) -> None:
    """py-spy over one more pipeline run (this process, every thread, native frames off)."""
    empty_tables(client)
    raw = out.with_suffix(".txt")
    spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(os.getpid()),
                            "--format", "raw", "--output", str(raw), "--rate", "200", "--nonblocking", "--function"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    s = settings.model_copy(update={"kafka_topic": case.topic, "kafka_group": f"{case.topic}-profile"})
    Ingester(s, lambda: connect(s.clickhouse_url)).run(until_caught_up=True)
    spy.send_signal(2)
    spy.wait(timeout=60)
    top = top_frames(raw)
    out.write_text("\n".join(f"{share:5.1f}%  {frame}" for frame, share in top) + "\n")
    print(f"profile of {case.name} (py-spy, share of samples whose innermost Python frame is this):")
    for frame, share in top[:15]:
        print(f"  {share:5.1f}%  {frame}")


def top_frames(raw: Path, limit: int = 30) -> list[tuple[str, float]]:
    """Innermost frames of py-spy's raw (collapsed stack) output, by share of samples."""
    counts: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        leaf = stack.split(";")[-1]
        counts[leaf] = counts.get(leaf, 0) + int(n)
        total += int(n)
    return [(frame, n * 100 / total) for frame, n in sorted(counts.items(), key=lambda kv: -kv[1])[:limit]]


def engine_only(client: Client, settings: Settings, case: Case) -> float:
    """Seconds to store the pipeline's batches straight from memory: the batches the ingester
    would build (message i in partition i % 4, as published), one writer per lane as it has."""
    builders = [BatchBuilder("engine-only", p, settings.batch_max_records, settings.batch_max_bytes, 1e9)
                for p in range(PARTITIONS)]
    lanes: list[list[Batch]] = [[] for _ in range(settings.ingest_writers)]
    for i, message in enumerate(case.messages):
        if batch := builders[i % PARTITIONS].add(i // PARTITIONS, message, 0.0):
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
    assert client.command("SELECT count() FROM requests") == case.records
    return seconds


def bulk_insert(client: Client, case: Case) -> tuple[float, float]:
    """Seconds and CPU-seconds to insert the case's records in one insert the engine parses."""
    empty_tables(client)
    if case.fmt == "native":
        table, fmt = "requests", "JSONEachRow"
        data = b"\n".join(case.messages) + b"\n"
        options = {"input_format_skip_unknown_fields": 1, "date_time_input_format": "best_effort"}
    else:  # the decoder's input, in one block: one batch of every record
        table, fmt = "ingest_lines", "TSVRaw"
        data = b"".join(b"".join(frame_message("bulk", 0, i, m)[0]) for i, m in enumerate(case.messages))
        options = {"insert_deduplication_token": f"bulk-{uuid.uuid4()}"} | EAGER_DECODING  # as the writer does
    with cpu_of() as spent:
        began = time.perf_counter()
        client.raw_insert(table, None, data, fmt=fmt, settings=options)
        seconds = time.perf_counter() - began
    assert client.command("SELECT count() FROM requests") == case.records
    empty_tables(client)
    return seconds, spent[0]


def empty_tables(client: Client) -> None:
    """Empty the raw table, the views' tables whose rows the runs count or key on, and the batch
    log (a truncated table forgets its deduplication tokens too: a round stores its batches anew)."""
    for table in ("requests", "edge_minute", "edge_10min", "edge_hour", "service_workloads", "ingest_batches",
                  "dead_letters"):
        client.command(f"TRUNCATE TABLE {table}")


def save(path: Path | None, rounds: int, summary: dict[str, dict[str, Any]]) -> None:
    if path is not None:
        path.write_text(json.dumps({"rounds": rounds, "cases": summary}, indent=1) + "\n")


def print_table(cases: list[Case], results: dict[str, list[Round]], quiet: bool = False) -> dict[str, dict[str, Any]]:
    """Print the medians of each case and the goal rows (figure, goal, measured, met); return the
    medians. ``quiet``: return them only."""
    if quiet:
        with contextlib.redirect_stdout(io.StringIO()):
            return print_table(cases, results)
    goals = []
    summary: dict[str, dict[str, Any]] = {}
    print("\nmedians over the rounds (ratios taken within each round); CPU-seconds per million records")
    for case in cases:
        rounds, count = results[case.name], case.records
        scale = 1e6 / count

        def med(of: Callable[[Round], float], rounds: list[Round] = rounds) -> float:
            return statistics.median(of(r) for r in rounds)

        print(f"\n{case.name} ({len(rounds)} rounds, {case.records:,} records)")
        print(f"  records/s: pipeline {count / med(lambda r: r.pipeline_s):,.0f}, "
              f"bulk {count / med(lambda r: r.bulk_s):,.0f}, "
              f"engine only {count / med(lambda r: r.engine_only_s):,.0f}")
        print(f"  broker                  {med(lambda r: r.broker_cpu) * scale:6.2f}")
        print(f"  ingester                {med(lambda r: r.ingester_cpu) * scale:6.2f}")
        print(f"    engine                {med(lambda r: r.engine_cpu) * scale:6.2f}")
        print(f"    outside the engine    {med(lambda r: r.outside) * scale:6.2f}")
        for step in rounds[0].steps:
            print(f"      {step:20s}{med(lambda r, step=step: r.steps[step]) * scale:6.2f}")
        print(f"  bulk insert (engine)    {med(lambda r: r.bulk_cpu) * scale:6.2f}")
        fast, own = CONSUME_ONLY.get(case.name, (0.0, 0.0))
        print(f"  consume only: fast paths {fast:.2f}, kafka-python's own {own:.2f}")
        e2e, outside = med(lambda r: r.e2e), med(lambda r: r.outside / r.engine_cpu)
        summary[case.name] = {
            "records": count, "pipeline_rps": count / med(lambda r: r.pipeline_s),
            "bulk_rps": count / med(lambda r: r.bulk_s), "e2e": e2e, "broker": med(lambda r: r.broker_cpu) * scale,
            "ingester": med(lambda r: r.ingester_cpu) * scale,
            "engine": med(lambda r: r.engine_cpu) * scale, "outside": med(lambda r: r.outside) * scale,
            "outside_ratio": outside, "bulk_cpu": med(lambda r: r.bulk_cpu) * scale,
            "consume_only": dict(zip(("fast", "own"), CONSUME_ONLY.get(case.name, (0.0, 0.0)), strict=True)),
            "steps": {step: med(lambda r, step=step: r.steps[step]) * scale for step in rounds[0].steps}}
        goals.append((f"ingest {case.name}: end to end / bulk insert", f">= {E2E_GOAL:.1f}x", f"{e2e:.2f}x",
                      e2e >= E2E_GOAL))
        goals.append((f"ingest {case.name}: CPU outside the engine / engine's", f"<= {OUTSIDE_GOAL:.1f}x",
                      f"{outside:.2f}x", outside <= OUTSIDE_GOAL))
    print_goals(goals)
    return summary


def print_goals(goals: list[tuple[str, str, str, bool]]) -> None:
    """The table `make bench` gathers: lines of ``figure | goal | measured | met``."""
    print("\nfigure | goal | measured | met")
    for figure, goal, measured, met in goals:
        print(f"{figure} | {goal} | {measured} | {'yes' if met else 'no'}")


if __name__ == "__main__":
    main()
