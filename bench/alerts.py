"""Alerting benchmark: evaluation time with 10,000 active edges, and fault-to-Slack time.

    .venv/bin/python bench/alerts.py [--edges 10000] [--hours 24] [--skip-kafka]

1. bulk-loads ``--hours`` of per-minute rollup rows for ``--edges`` edges (10 callees per
   caller, 1,000 callers) into a fresh embedded ClickHouse folder of its own, with a few
   failing edges among them, then times one evaluation of the shipped rules (all six
   queries, root cause, persistence), several times, and each rule's query alone.
   Target: under 1 second.
2. with the default settings (15 s evaluation interval, shipped rules) runs the real
   ingester and the alert service's scheduler in this process, publishes healthy traffic
   to a fresh topic on the local broker (scripts/local-kafka.sh start), then a fault, and
   times the first faulty record's publication to the Slack message's arrival at a local
   HTTP server. Target: under 45 seconds.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clickhouse_connect.driver.client import Client
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.notify.senders import ConsoleSender, WebhookSender  # noqa: E402
from alerts.queries import observe  # noqa: E402
from alerts.rules import load_rules  # noqa: E402
from alerts.service import AlertService  # noqa: E402
from edgewatch.clickhouse import connect  # noqa: E402
from edgewatch.latency import BUCKET as LATENCY_BUCKET  # noqa: E402
from edgewatch.migrate import migrate  # noqa: E402
from edgewatch.settings import Settings  # noqa: E402
from ingest.service import Ingester  # noqa: E402
from tests.alerts.slack_server import SlackStandIn  # noqa: E402

FAILING_EVERY = 1000  # one edge in a thousand fails


def load_edges(client: Client, edges: int, hours: int, end: datetime) -> int:
    """Per-minute rows for every edge over ``hours`` ending at ``end``; returns rows loaded."""
    minutes = hours * 60
    start = end.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    client.command(
        f"""INSERT INTO edge_minute
        SELECT
            toDateTime({{start:DateTime}}, 'UTC') + toIntervalMinute(intDiv(number, {edges})) AS minute,
            concat('wl-', toString(intDiv(number % {edges}, 10))) AS source_workload,
            concat('ns-', toString(intDiv(number % {edges}, 10) % 20)) AS source_namespace,
            concat('svc-', toString((intDiv(number % {edges}, 10) + number % 10 + 1) % 1000)) AS destination_service,
            concat('ns-', toString(((intDiv(number % {edges}, 10) + number % 10 + 1) % 1000) % 20)),
            'service',
            toUInt64(60) AS requests,
            toUInt64(if(number % {edges} % {FAILING_EVERY} = 0 AND minute >= {{fault:DateTime}}, 30, 0)) AS errors,
            toUInt64(0), toUInt64(if(errors > 0, 30, 0)),
            map(toUInt16(200), requests - errors, toUInt16(504), errors),
            map('-', requests - errors, 'UT', errors),
            toFloat64(60 * 25),
            if(errors > 0, 1000., inf),
            arrayReduce('sumMap', arrayMap(duration_ms -> map({LATENCY_BUCKET}, toUInt64(1)),
                                           [20., 25., 30. + number % 50, if(errors > 0, 1000., 40.)])),
            arrayReduce('sumMap', arrayMap(duration_ms -> map({LATENCY_BUCKET}, toUInt64(1)),
                                           [20., 25., 30. + number % 50]))
        FROM numbers({edges * minutes})""",
        parameters={"start": start, "fault": end - timedelta(minutes=3)},
    )
    return edges * minutes


def bench_evaluation(edges: int, hours: int, runs: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="edgewatch-bench-alerts-"))
    client = connect(f"chdb://{folder}")
    migrate(client)
    now = datetime.now(UTC)
    started = time.perf_counter()
    rows = load_edges(client, edges, hours, now)
    print(f"loaded {rows:,} rollup rows ({edges:,} edges x {hours} h) in {time.perf_counter() - started:.1f} s")
    client.command("OPTIMIZE TABLE edge_minute FINAL")

    rules = load_rules()
    for rule in rules:
        timings = []
        for _ in range(3):
            t = time.perf_counter()
            found = observe(client, rule, now)
            timings.append(time.perf_counter() - t)
        print(f"  {rule.name:26s} query: median {statistics.median(timings) * 1000:6.0f} ms, {len(found)} edges")

    quiet = ConsoleSender(io.StringIO())
    service = AlertService(Settings(clickhouse_url=f"chdb://{folder}"), client, sender=quiet)
    seconds = []
    for i in range(runs):
        evaluation = service.evaluate_once(now + timedelta(seconds=15 * i))
        seconds.append(evaluation.seconds)
    firing = sum(a.firing for a in evaluation.alerts)
    print(
        f"one evaluation of {len(rules)} rules over {edges:,} edges: median {statistics.median(seconds):.3f} s, "
        f"max {max(seconds):.3f} s (target < 1 s); {len(evaluation.alerts)} alerts active, {firing} firing"
    )


def record(edge: tuple[str, str, str], code: int, flags: str, duration: float) -> str:
    source, destination, kind = edge
    return json.dumps({
        "timestamp": datetime.now(UTC).isoformat(), "source_workload": source, "source_namespace": "fleet",
        "destination_service": destination, "destination_namespace": "" if kind == "external" else "fleet",
        "destination_kind": kind, "response_code": code, "response_flags": flags, "duration_ms": duration,
        "request_id": uuid.uuid4().hex,
    })  # fmt: skip


def bench_promptness(trials: int, timeout: float) -> None:
    """Trial k faults its own pair of edges; the trials start at random points of the grid."""
    folder = Path(tempfile.mkdtemp(prefix="edgewatch-bench-alerts-kafka-"))
    slack = SlackStandIn().start()
    topic = f"bench-alerts-{uuid.uuid4().hex[:8]}"
    settings = Settings(clickhouse_url=f"chdb://{folder}", kafka_topic=topic, kafka_group=f"g-{topic}",
                        slack_webhook_url=slack.webhook_url)  # fmt: skip
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])
    admin.close()
    migrate(connect(settings.clickhouse_url))

    stop = threading.Event()
    ingester = threading.Thread(target=Ingester(settings, lambda: connect(settings.clickhouse_url)).run,
                                kwargs={"stop": stop}, daemon=True)
    ingester.start()
    service = AlertService(settings, connect(settings.clickhouse_url), sender=WebhookSender(slack.webhook_url))
    service.start()
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5)
    faulty: set[int] = set()

    def produce() -> None:
        while not stop.is_set():
            lines = []
            for k in range(trials):
                webapp, staff = (
                    (f"webapp-{k}", f"staff-{k}", "service"),
                    (f"staff-{k}", "api.vendor.example", "external"),
                )
                bad = k in faulty
                lines.append(record(webapp, 503, "-", 1000) if bad else record(webapp, 200, "-", 30))
                lines.append(record(staff, 504, "UT", 1000) if bad else record(staff, 200, "-", 40))
            producer.send(topic, "\n".join(lines * 5).encode())
            time.sleep(0.5)

    publisher = threading.Thread(target=produce, daemon=True)
    publisher.start()
    time.sleep(20)  # healthy traffic first
    results = []
    for k in range(trials):
        time.sleep(random.uniform(0, settings.eval_interval_seconds))
        seen = len(slack.messages)
        faulty.add(k)
        t0 = time.perf_counter()
        while len(slack.messages) == seen and time.perf_counter() - t0 < timeout:
            time.sleep(0.05)
        results.append(time.perf_counter() - t0 if len(slack.messages) > seen else float("inf"))
        print(f"  trial {k + 1}: {results[-1]:.1f} s: {slack.messages[-1]['text'] if slack.messages else '-'}")
    stop.set()
    service.shutdown()
    publisher.join()
    producer.close()
    ingester.join(timeout=30)
    slack.stop()
    print(
        f"first faulty record published -> Slack message, {trials} trials: median {statistics.median(results):.1f} s, "
        f"max {max(results):.1f} s (target < 45 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edges", type=int, default=10_000)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--trials", type=int, default=3, help="fault-to-Slack trials")
    parser.add_argument("--skip-kafka", action="store_true")
    args = parser.parse_args()
    bench_evaluation(args.edges, args.hours, args.runs)
    if not args.skip_kafka:
        bench_promptness(args.trials, timeout=120)


if __name__ == "__main__":
    main()
