"""Alerting benchmark: evaluation time with 10,000 active edges, and fault-to-Slack time.

    .venv/bin/python bench/alerts.py [--edges 10000] [--skip-kafka] [--quick]

1. generates, inside the engine, the rollup rows that the shipped rules' windows read for
   ``--edges`` edges (10 callees per caller; bench/scale.py's ``load_rollups``: seconds, where
   loading 24 h of per-minute rows through the views took 8 minutes), with a few failing edges
   among them, in a fresh embedded ClickHouse folder of its own, then times one evaluation of
   the shipped rules (all six queries, root cause, persistence), several times, and each rule's
   query alone. Target (issue #17): under 0.3 s for 10,000 edges. Then the same with the raw
   records a live store holds besides: the caller's and the callee's report of every call of the
   last ``TAIL`` minutes at the rollups' rate (60 calls a minute per edge), settled up to
   ``UNSETTLED`` minutes ago, so every window also reads the unsettled tail from ``requests``
   (docs/edges.md); the goal is judged on this one.
2. with the default settings (15 s evaluation interval, shipped rules) runs the real
   ingester and the alert service's scheduler in this process, publishes healthy traffic
   to a fresh topic on the local broker, then a fault, and times the first faulty record's
   publication to the Slack message's arrival at a local HTTP server. Target: under 30 seconds.

``--quick`` (`make bench`): 1,000 edges, one fault trial. Prints ``figure | goal | measured | met``.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
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
from bench.ingest import ensure_broker, print_goals  # noqa: E402
from bench.scale import EDGE_LAYOUT, load_rollups  # noqa: E402
from edgewatch import snapshot  # noqa: E402
from edgewatch.clickhouse import connect  # noqa: E402
from edgewatch.edges import edge_stats  # noqa: E402
from edgewatch.migrate import migrate  # noqa: E402
from edgewatch.settings import Settings  # noqa: E402
from edgewatch.settle import settled_until  # noqa: E402
from edgewatch.windows import STORED_UNTIL, TimeRange  # noqa: E402
from ingest.service import Ingester  # noqa: E402
from tests.alerts.slack_server import SlackStandIn  # noqa: E402

EVALUATION_GOAL_S = 0.3  # issue #17: 10,000 edges, 6 rules
SLACK_GOAL_S = 30.0


TAIL = 5  # minutes of raw records before now: the unsettled minutes and the slack before them
UNSETTLED = 3  # minutes: where a live settler leaves the settled point (edgewatch.settle.LAG and its interval)

# Both reports of each call on load_rollups' edges (bench/scale.py's EDGE_LAYOUT), 60 calls a minute
# per edge over [start, start + span); half the calls of its failing edges end 504 UT after a second.
TAIL_SQL = f"""
INSERT INTO requests (timestamp, source_workload, source_namespace, destination_service, destination_namespace,
    destination_workload, destination_kind, reporter, request_protocol, method, path, response_code,
    response_flags, duration_ms, request_id, trace_id, bytes_sent, bytes_received, kafka_partition, kafka_offset)
SELECT fromUnixTimestamp64Milli(
        toInt64({{start_ms:Int64}} + intDiv(c * {{span_ms:UInt64}}, {{calls:UInt64}}) + callee_row), 'UTC'),
    src, src_ns, dst, dst_ns, if(callee_row, dst || '-v1', ''), 'service', if(callee_row, 'destination', 'source'),
    'HTTP/1.1', 'GET', '/', toUInt16(if(failing, 504, 200)), if(failing, 'UT', '-'), if(failing, 1000., 25.),
    lower(hex(cityHash64(c))) || '-' || toString(c), '', 0, 0, 0, number
FROM (
    SELECT number, intDiv(number, 2) AS c, number % 2 = 1 AS callee_row,
        c % {{edges:UInt64}} AS e, {EDGE_LAYOUT}, e % 1000 = 0 AND c % 2 = 0 AS failing
    FROM numbers({{calls:UInt64}} * 2)
)"""


def set_settled_point(client: Client, moment: datetime) -> None:
    """The settled point at ``moment``, as one done chunk of edge_settle_log (the only one)."""
    client.command("TRUNCATE TABLE edge_settle_log")
    client.insert("edge_settle_log", [[moment - timedelta(days=2), moment, 1]],
                  column_names=["chunk_start", "chunk_end", "done"])


def load_tail(client: Client, edges: int, now: datetime) -> int:
    """Both reports of every call of the ``TAIL`` minutes before ``now`` into ``requests`` (not
    into the rollups, which load_rollups filled: edge_minute_mv is detached meanwhile), and the
    settled point at ``now - UNSETTLED`` minutes, as a live settler leaves it. Returns the rows."""
    calls = edges * 60 * TAIL
    client.command("DETACH TABLE edge_minute_mv")
    try:
        client.command(TAIL_SQL, parameters={"start_ms": int((now - timedelta(minutes=TAIL)).timestamp() * 1000),
                                             "span_ms": TAIL * 60_000, "calls": calls, "edges": edges})
    finally:
        client.command("ATTACH TABLE edge_minute_mv")
    set_settled_point(client, now - timedelta(minutes=UNSETTLED))
    return calls * 2


def time_evaluation(client: Client, folder: Path, now: datetime, runs: int, edges: int) -> float:
    """Each shipped rule's query alone, the 1-hour edges answer, then ``runs`` evaluations 15 s
    apart from ``now``, from no alert state; the median seconds of one."""
    for table in ("alert_state", "alert_events", "notifications"):
        client.command(f"TRUNCATE TABLE {table}")
    rules = load_rules()
    settled = settled_until(client)
    took = []
    for _ in range(3):
        t = time.perf_counter()
        tail = snapshot.take(client, settled, now, STORED_UNTIL)
        took.append(time.perf_counter() - t)
    own, shared = 0.0, statistics.median(took)  # the queries' seconds: each matching its own tails, or sharing one
    print(f"  the evaluation's snapshot of the unsettled tail (edgewatch/snapshot.py): median {shared * 1000:6.0f} ms")
    for rule in rules:
        timings, with_snapshot = [], []
        for _ in range(3):  # interleaved: the rule matching its own tails, then reading the snapshot
            t = time.perf_counter()
            found = observe(client, rule, now, settled=settled)
            timings.append(time.perf_counter() - t)
            t = time.perf_counter()
            observe(client, rule, now, settled=settled, snapshot=tail)
            with_snapshot.append(time.perf_counter() - t)
        own += statistics.median(timings)
        shared += statistics.median(with_snapshot)
        print(f"  {rule.name:26s} query: median {statistics.median(timings) * 1000:6.0f} ms matching its own tails, "
              f"{statistics.median(with_snapshot) * 1000:6.0f} ms with the snapshot; {len(found)} edges")
    print(f"  the {len(rules)} queries: {own:.3f} s matching their own tails, {shared:.3f} s with one snapshot "
          f"taken for them ({own / shared:.1f}x)")

    hour = TimeRange.ending(now + timedelta(seconds=30), 3600)
    took = []
    for _ in range(5):
        t = time.perf_counter()
        edge_stats(client, hour, now)
        took.append(time.perf_counter() - t)
    print(f"  edges of the last hour (edge_stats, a direct call): median {statistics.median(took) * 1000:6.0f} ms")

    quiet = ConsoleSender(io.StringIO())
    service = AlertService(Settings(clickhouse_url=f"chdb://{folder}"), client, sender=quiet)
    seconds = []
    for i in range(runs):
        evaluation = service.evaluate_once(now + timedelta(seconds=15 * i))
        seconds.append(evaluation.seconds)
    firing = sum(a.firing for a in evaluation.alerts)
    print(
        f"one evaluation of {len(rules)} rules over {edges:,} edges: median {statistics.median(seconds):.3f} s, "
        f"max {max(seconds):.3f} s (target < {EVALUATION_GOAL_S} s at 10,000 edges); {len(evaluation.alerts)} alerts "
        f"active, {firing} firing"
    )
    return statistics.median(seconds)


def bench_evaluation(edges: int, runs: int) -> tuple[float, float]:
    """The median seconds of one evaluation of the shipped rules over ``edges`` edges: from the
    rollups alone, and with the unsettled tail of a live store."""
    folder = Path(tempfile.mkdtemp(prefix="edgewatch-bench-alerts-"))
    client = connect(f"chdb://{folder}")
    migrate(client)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    started = time.perf_counter()
    rows = load_rollups(client, edges, now)
    print(f"loaded {rows:,} rollup rows ({edges:,} edges) in {time.perf_counter() - started:.1f} s")
    set_settled_point(client, now + timedelta(hours=1))  # past every window: the rollups alone answer
    rollups_only = time_evaluation(client, folder, now, runs, edges)

    started = time.perf_counter()
    rows = load_tail(client, edges, now)
    print(f"with an unsettled tail: {rows:,} raw rows of the last {TAIL} minutes, settled until "
          f"{UNSETTLED} minutes ago (loaded in {time.perf_counter() - started:.1f} s)")
    with_tail = time_evaluation(client, folder, now, runs, edges)
    shutil.rmtree(folder, ignore_errors=True)
    return rollups_only, with_tail


def record(edge: tuple[str, str, str], code: int, flags: str, duration: float) -> str:
    source, destination, kind = edge
    return json.dumps({
        "timestamp": datetime.now(UTC).isoformat(), "source_workload": source, "source_namespace": "fleet",
        "destination_service": destination, "destination_namespace": "" if kind == "external" else "fleet",
        "destination_kind": kind, "response_code": code, "response_flags": flags, "duration_ms": duration,
        "request_id": uuid.uuid4().hex,
    })  # fmt: skip


def bench_promptness(trials: int, timeout: float) -> float:
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
        f"max {max(results):.1f} s (target < {SLACK_GOAL_S} s)"
    )
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.delete_topics([topic])
    admin.close()
    shutil.rmtree(folder, ignore_errors=True)
    return statistics.median(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edges", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--trials", type=int, default=3, help="fault-to-Slack trials")
    parser.add_argument("--skip-kafka", action="store_true")
    parser.add_argument("--quick", action="store_true", help="1,000 edges, 3 runs, one trial")
    args = parser.parse_args()
    if args.quick:
        args.edges, args.runs, args.trials = 1000, 3, 1
    goals = []
    rollups_only, seconds = bench_evaluation(args.edges, args.runs)
    goals.append((f"rule evaluation, {args.edges:,} edges, 6 rules, with the unsettled tail (bench/alerts.py)",
                  f"< {EVALUATION_GOAL_S} s", f"{seconds:.3f} s (rollups alone: {rollups_only:.3f} s)",
                  seconds < EVALUATION_GOAL_S))
    if not args.skip_kafka:
        ensure_broker(Settings().kafka_bootstrap)
        slack = bench_promptness(args.trials, timeout=120)
        goals.append(("first faulty record -> Slack call, default rules", f"< {SLACK_GOAL_S} s", f"{slack:.1f} s",
                      slack < SLACK_GOAL_S))
    print_goals(goals)


if __name__ == "__main__":
    main()
