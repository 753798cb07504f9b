"""Scale benchmark: how each cost of Edgewatch grows with the work (issue #17, part 2).

    .venv/bin/python bench/scale.py            # the full run; --docs writes docs/performance.md and its plots
    .venv/bin/python bench/scale.py --quick    # every row at small sizes (CI: it completes, every row prints)

Sections, each point printed beside the one before it (the ratio of the costs against the
ratio of the work):

- ingest: records/s and CPU-seconds per million records (the ingester process, the broker) for
  1, 2, 4 and 8 partitions (2 writers), then 1 to 4 writers (4 partitions), native records;
- store: ``edges?window=1h`` (the median, and the worst median of the 24 hours of the day: the
  API's clock at each hour, the callee-only calls of its last minutes unsettled as a live
  settler leaves them), ``graph?window=24h``, a drill-down and a 24 h time series through HTTP,
  at 2M, 20M and 100M stored records over 300 edges and at 3,000 and 10,000 edges; the disk
  bytes per stored record (raw, and the rollups after their merges) and the memory of the
  process (engine and API in it) at each size;
- rules: one evaluation of the 6 shipped rules and of 30 rules (the 6, and 4 variants of each)
  for 1,000, 10,000 and 50,000 edges.

Every store is generated inside the engine (``INSERT ... SELECT FROM numbers()``: bench/api.py's
LOAD_SQL for requests; the rollup rows the rules read, straight into the rollup tables), each in
a process of its own (one engine folder per process). Targets of the issue are printed as
``figure | goal | measured | met`` lines for `make bench`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# This file lives beside bench/api.py, named like the `api` package: import from the repository.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.cpu import listener_pid, process_cpu, rss_bytes  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs"
FULL = {
    "partitions": [1, 2, 4, 8], "writers": [1, 2, 3, 4], "ingest_records": 1_000_000,
    "stores": [(2_000_000, 300), (20_000_000, 300), (100_000_000, 300), (20_000_000, 3000), (20_000_000, 10_000)],
    "rule_edges": [1000, 10_000, 50_000], "runs": 15,
}
QUICK = {  # fewer and smaller points: CI runs it (tests/test_bench.py), within a minute or two
    "partitions": [1, 4], "writers": [1, 2], "ingest_records": 10_000,
    "stores": [(10_000, 300), (20_000, 300), (20_000, 3000)],
    "rule_edges": [100, 400], "runs": 2,
}
RULE_COUNTS = (6, 30)
TARGETS = {  # (records, edges) -> figure -> ms; issue #17, part 3
    "edges 1h, worst hour": {(20_000_000, 300): 20},
    "graph 24h": {(20_000_000, 300): 50, (20_000_000, 3000): 250, (20_000_000, 10_000): 1000},
}
RULE_TARGETS = {(10_000, 6): 0.3, (50_000, 6): 2.0}


def shape(xs: list[float], ys: list[float]) -> str:
    """The curve's shape from its log-log slope end to end: falling, flat, sublinear, linear or worse."""
    if len(xs) < 2 or min(ys) <= 0:
        return "n/a"
    slope = math.log(ys[-1] / ys[0]) / math.log(xs[-1] / xs[0])
    if slope < -0.15:
        return f"falling (slope {slope:.2f})"
    if slope < 0.15:
        return f"flat (slope {slope:.2f})"
    if slope < 0.8:
        return f"sublinear (slope {slope:.2f})"
    if slope <= 1.2:
        return f"linear (slope {slope:.2f})"
    return f"worse than linear (slope {slope:.2f})"


# -- children: one engine folder each ------------------------------------------------------
def child_ingest(args: argparse.Namespace) -> dict[str, Any]:
    """Records/s and CPU per record of the real ingester for each partition and writer count."""
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    from bench.ingest import empty_tables, make_messages
    from edgewatch.clickhouse import connect
    from edgewatch.migrate import migrate
    from edgewatch.settings import Settings
    from ingest.service import Ingester

    grid = QUICK if args.quick else FULL
    folder = Path(tempfile.mkdtemp(prefix="edgewatch-bench-scale-"))
    settings = Settings(clickhouse_url=f"chdb://{folder}", kafka_bootstrap=args.bootstrap)
    client = connect(settings.clickhouse_url)
    migrate(client)
    records = grid["ingest_records"]
    messages = make_messages(records, 1000)
    broker = listener_pid(int(args.bootstrap.rsplit(":", 1)[1]))
    topics: dict[int, str] = {}
    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap)
    points = []
    try:
        for partitions in sorted(set(grid["partitions"]) | {4}):
            topic = topics[partitions] = f"bench-scale-{uuid.uuid4().hex[:8]}-p{partitions}"
            admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
            producer = KafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=20, batch_size=1 << 20,
                                     max_request_size=8 << 20)
            for i, message in enumerate(messages):
                producer.send(topic, message, partition=i % partitions)
            producer.flush()
            producer.close()
        plan = [(p, 2) for p in grid["partitions"]] + [(4, w) for w in grid["writers"]]
        for index, (partitions, writers) in enumerate(plan):
            empty_tables(client)
            s = settings.model_copy(update={"kafka_topic": topics[partitions], "ingest_writers": writers,
                                            "kafka_group": f"{topics[partitions]}-{index}"})
            broker_began, began_cpu, began = process_cpu(broker) if broker else 0.0, process_cpu(), time.perf_counter()
            stats = Ingester(s, lambda s=s: connect(s.clickhouse_url)).run(until_caught_up=True)
            seconds = time.perf_counter() - began
            assert stats.records == records, f"stored {stats.records} of {records}"
            broker_cpu = process_cpu(broker) - broker_began if broker else 0.0
            points.append({"partitions": partitions, "writers": writers, "records_per_s": records / seconds,
                           "ingester_cpu_per_m": (process_cpu() - began_cpu) * 1e6 / records,
                           "broker_cpu_per_m": broker_cpu * 1e6 / records,
                           "rss_mb": rss_bytes() / 1e6, "broker_rss_mb": rss_bytes(broker) / 1e6 if broker else 0.0})
            print(f"  ingest {partitions} partitions, {writers} writers: {points[-1]['records_per_s']:,.0f} rec/s",
                  flush=True)
    finally:
        existing = set(admin.list_topics())
        admin.delete_topics([t for t in topics.values() if t in existing])
        admin.close()
        shutil.rmtree(folder, ignore_errors=True)
    return {"records": records, "points": points}


def child_store(args: argparse.Namespace) -> dict[str, Any]:
    """One store of ``args.records`` requests over ``args.edges`` edges: its answers' times through
    HTTP, its disk bytes and the process's memory."""
    import httpx

    import edgewatch.edges as edges_module
    from bench.api import load
    from edgewatch.clickhouse import connect
    from edgewatch.edges import edge_stats
    from edgewatch.migrate import migrate
    from edgewatch.settings import Settings
    from edgewatch.settle import LAG, settle
    from edgewatch.windows import TimeRange

    runs = (QUICK if args.quick else FULL)["runs"]
    folder = Path(tempfile.mkdtemp(prefix="edgewatch-bench-scale-"))
    try:
        settings = Settings(clickhouse_url=f"chdb://{folder}")
        client = connect(settings.clickhouse_url)
        migrate(client)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        began = time.perf_counter()
        load(client, args.records, now - timedelta(hours=24), edges=args.edges)
        load_s = time.perf_counter() - began
        began = time.perf_counter()
        while settle(client, now - timedelta(minutes=5) + LAG, max_chunks=48):
            pass
        settle(client, now)  # the last LAG minutes unsettled, as a live settler leaves them
        settle_s = time.perf_counter() - began
        for table in ("edge_minute", "edge_10min", "edge_hour"):
            client.command(f"OPTIMIZE TABLE {table} FINAL")  # what background merges reach for all but recent parts
        print(f"  store {args.records:,} records, {args.edges:,} edges: loaded in {load_s:.0f} s, "
              f"settled in {settle_s:.0f} s", flush=True)

        state: dict[str, Any] = {"now": now, "settled": None}
        real_settled = edges_module.settled_until
        edges_module.settled_until = lambda c: state["settled"] or real_settled(c)  # type: ignore[assignment]
        server, url = _serve_with_clock(settings, client, state)
        worst = edge_stats(client, TimeRange.ending(now, 3600), now)[0]
        drill = {"source": worst.source, "destination": worst.destination, "status": "5xx", "limit": 100,
                 "window": "1h"}
        series = {"source": worst.source, "destination": worst.destination, "window": "24h", "step": "10m"}
        result: dict[str, Any] = {"records": args.records, "edges": args.edges, "load_s": load_s,
                                  "stored_edges": len(edge_stats(client, TimeRange.ending(now, 86400), now))}
        with httpx.Client(base_url=url, timeout=300) as http:
            def timed(path: str, n: int, **params: Any) -> float:
                http.get(path, params=params).raise_for_status()  # warm
                times = []
                for _ in range(n):
                    t = time.perf_counter()
                    http.get(path, params=params).raise_for_status()
                    times.append(time.perf_counter() - t)
                return statistics.median(times) * 1000

            result["edges 1h"] = timed("/api/v1/edges", 2 * runs + 1, window="1h")
            result["graph 24h"] = timed("/api/v1/graph", runs, window="24h")
            result["drill-down 1h"] = timed("/api/v1/requests", runs, **drill)
            result["series 24h"] = timed("/api/v1/edges/timeseries", runs, **series)
            hours = []
            for back in range(0, 24, 6 if args.quick else 1):  # the API's clock at each hour of the day,
                # its last LAG minutes unsettled as a live settler leaves them
                state["now"] = now - timedelta(hours=back)
                state["settled"] = state["now"] - LAG
                hours.append(timed("/api/v1/edges", max(1, runs // 3), window="1h"))
            state["now"], state["settled"] = now, now + timedelta(minutes=1)  # settled to the end: no tail
            result["edges 1h, no tail"] = timed("/api/v1/edges", 2 * runs + 1, window="1h")
            state["now"], state["settled"] = now, None
            result["edges 1h, worst hour"] = max(hours)
            result["edges 1h, hours"] = hours
        server.should_exit = True
        result["select 1"] = _median_ms(lambda: client.command("SELECT 1"), 21)
        result["edges 1h engine"] = engine_work(client, lambda: edge_stats(client, TimeRange.ending(now, 3600), now))
        result |= _disk(client, args.records)
        result["rss_mb"] = rss_bytes() / 1e6
        result["peak_rss_mb"] = _peak_rss() / 1e6
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _serve_with_clock(settings: Any, client: Any, state: dict[str, Any]) -> tuple[Any, str]:
    import uvicorn

    from api.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(settings, client, clock=lambda: state["now"]),
                                           host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def _median_ms(action: Callable[[], Any], n: int) -> float:
    action()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        action()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


PLANNING_EVENTS = ("QueryParseMicroseconds", "QueryAnalysisMicroseconds", "QueryPlanBuildMicroseconds",
                   "QueryPlanOptimizeMicroseconds", "QueryPipelineBuildMicroseconds")


def engine_work(client: Any, action: Callable[[], Any], times: int = 5) -> dict[str, float]:
    """What ``action`` costs the engine, averaged over ``times`` calls (system.events deltas: chDB
    keeps no query log): queries, their time, and the part of it spent before reading a row
    (parse, analysis, plan, pipeline): the floor a query pays however few rows it reads. The
    reading of system.events itself is measured alone and taken off."""
    def events() -> dict[str, int]:
        return dict(client.query("SELECT event, value FROM system.events").result_rows)

    def delta(run: Callable[[], Any], n: int) -> dict[str, float]:
        before = events()
        for _ in range(n):
            run()
        after = events()
        return {k: (after.get(k, 0) - before.get(k, 0)) / n for k in after}

    action()
    itself = delta(lambda: None, 1)
    got = delta(action, times)
    spent = {k: got.get(k, 0) - itself.get(k, 0) / times for k in got}
    return {"queries": spent.get("SelectQuery", 0) + spent.get("InsertQuery", 0),
            "query ms": spent.get("QueryTimeMicroseconds", 0) / 1000,
            "planning ms": sum(spent.get(k, 0) for k in PLANNING_EVENTS) / 1000}


def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _disk(client: Any, records: int) -> dict[str, Any]:
    """Compressed bytes per stored record: the raw table as its background merges left it, the
    rollups after their merges; and the parts of the raw table."""
    rows = client.query(
        "SELECT table, sum(data_compressed_bytes), count() FROM system.parts "
        "WHERE active AND database = currentDatabase() GROUP BY table").result_rows
    size = {table: (int(b), int(n)) for table, b, n in rows}
    rollups = sum(size.get(t, (0, 0))[0] for t in ("edge_minute", "edge_10min", "edge_hour"))
    return {"raw bytes/record": size.get("requests", (0, 0))[0] / records, "rollup bytes/record": rollups / records,
            "raw parts": size.get("requests", (0, 0))[1]}


def child_rules(args: argparse.Namespace) -> dict[str, Any]:
    """One evaluation of 6 and of 30 rules over ``args.edges`` edges, median of several."""
    import io

    import yaml

    from alerts.notify.senders import ConsoleSender
    from alerts.rules import DEFAULT_RULES_FILE, parse_rules
    from alerts.service import AlertService
    from edgewatch.clickhouse import connect
    from edgewatch.migrate import migrate
    from edgewatch.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="edgewatch-bench-scale-"))
    try:
        settings = Settings(clickhouse_url=f"chdb://{folder}")
        client = connect(settings.clickhouse_url)
        migrate(client)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        began = time.perf_counter()
        rows = load_rollups(client, args.edges, now)
        result: dict[str, Any] = {"edges": args.edges, "rollup_rows": rows, "load_s": time.perf_counter() - began}
        print(f"  rules over {args.edges:,} edges: {rows:,} rollup rows loaded in {result['load_s']:.0f} s", flush=True)
        shipped = yaml.safe_load(DEFAULT_RULES_FILE.read_text())["rules"]
        variants = [dict(rule, name=f"{rule['name']}-{k}", min_requests=rule.get("min_requests", 1) + k)
                    for k in range(1, 5) for rule in shipped]
        runs = 1 if args.quick else 5
        for count in RULE_COUNTS:
            rules = parse_rules({"rules": (shipped + variants)[:count]}, "bench")
            service = AlertService(settings, client, sender=ConsoleSender(io.StringIO()), rules=rules)
            seconds = [service.evaluate_once(now + timedelta(seconds=15 * i)).seconds for i in range(runs + 1)][1:]
            result[f"{count} rules"] = statistics.median(seconds)
            result[f"{count} rules engine"] = engine_work(
                client, lambda service=service: service.evaluate_once(now + timedelta(minutes=1)),
                times=1 if args.quick else 2)
        result["rss_mb"] = rss_bytes() / 1e6
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


LATENCY_OK = "map(toInt16(79), toUInt64(15 * m), toInt16(84), toUInt64(15 * m), toInt16(90), toUInt64(30 * m))"
LATENCY = ("if(failing, map(toInt16(79), toUInt64(15 * m), toInt16(84), toUInt64(15 * m), toInt16(180), "
           "toUInt64(30 * m)), " + LATENCY_OK + ")")


EDGE_LAYOUT = """intDiv(e, 10) AS caller, (caller + e % 10 + 1) % 1000 AS callee,
        concat('wl-', toString(caller)) AS src, concat('ns-', toString(caller % 20)) AS src_ns,
        concat('svc-', toString(callee)) AS dst, concat('ns-', toString(callee % 20)) AS dst_ns"""
"""SQL: edge ``e``'s caller workload and called service (``src``, ``src_ns``, ``dst``, ``dst_ns``), 10
callees per caller: the edges of :func:`load_rollups`, and of bench/alerts.py's raw records on them."""


def _rollup_insert(table: str, time_column: str, span_minutes: int, measures_ok: bool) -> str:
    """Rows of ``table`` for every edge, a row starting every ``{step}`` minutes from ``{first}``:
    ``{edges}`` edges of 10 callees per caller; one edge in a thousand failing from ``{fault}``
    (half its calls 504 UT after a second). ``m`` is the row's span in minutes."""
    latency_ok = f", {LATENCY_OK} AS latency_ok" if measures_ok else ""
    ok_column = ", latency_ok" if measures_ok else ""
    return f"""
INSERT INTO {table} ({time_column}, source_workload, source_namespace, destination_service, destination_namespace,
    destination_kind, requests, errors, client_errors, timeouts, status_codes, response_flags, duration_sum_ms,
    timeout_duration_min, latency{ok_column})
SELECT t, src, src_ns, dst, dst_ns, 'service',
    toUInt64(60 * m) AS requests, toUInt64(if(failing, 30 * m, 0)) AS errors, toUInt64(0), errors AS timeouts,
    map(toUInt16(200), requests - errors, toUInt16(504), errors), map('-', requests - errors, 'UT', errors),
    toFloat64(requests * 25), if(failing, 1000., inf), {LATENCY} AS latency{latency_ok}
FROM (
    SELECT toDateTime({{first:DateTime}}, 'UTC')
            + toIntervalMinute(intDiv(number, {{edges:UInt64}}) * {{step:UInt64}}) AS t,
        number % {{edges:UInt64}} AS e, {EDGE_LAYOUT},
        e % 1000 = 0 AND t >= {{fault:DateTime}} AS failing, toUInt64({span_minutes}) AS m
    FROM numbers({{edges:UInt64}} * {{slots:UInt64}})
)"""


def load_rollups(client: Any, edges: int, now: datetime) -> int:
    """The rollup rows that the shipped rules' windows (1m to 1d, ending now) read, generated in the
    engine straight into each rollup table (its views from edge_minute detached meanwhile): hours
    for the last 26 hours, and 10-minute and minute rows around every window's ends (the last 70
    minutes, and 70 minutes from the starts of the 2h and 6h windows; day windows are whole
    hours). A live store holds more minute and 10-minute rows, which no window reads."""
    ranges = [(now - timedelta(minutes=70), now + timedelta(minutes=1))]
    for hours in (2, 6):
        start = now - timedelta(hours=hours)
        ranges.append((start - timedelta(minutes=10), start + timedelta(minutes=70)))
    hour_start = now.replace(minute=0) - timedelta(hours=25)
    total = 0
    views = ("edge_10min_mv", "edge_hour_mv")
    for view in views:
        client.command(f"DETACH TABLE {view}")
    try:
        def insert(table: str, column: str, span: int, step: int, first: datetime, slots: int, ok: bool) -> None:
            nonlocal total
            client.command(_rollup_insert(table, column, span, ok),
                           parameters={"first": first, "edges": edges, "step": step, "slots": slots,
                                       "fault": now - timedelta(minutes=3)})
            total += edges * slots

        insert("edge_hour", "hour", 60, 60, hour_start, 26, True)
        for start, end in ranges:
            minutes = int((end - start).total_seconds() // 60)
            insert("edge_minute", "minute", 1, 1, start, minutes, True)
            insert("edge_10min", "start", 10, 1, start, minutes, False)  # a row of 10 minutes at every minute
    finally:
        for view in views:
            client.command(f"ATTACH TABLE {view}")
    for table in ("edge_minute", "edge_10min", "edge_hour"):
        client.command(f"OPTIMIZE TABLE {table} FINAL")
    return total


# -- the parent: runs the children, prints the tables, writes the docs ---------------------------
def run_child(kind: str, quick: bool, bootstrap: str, **options: Any) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", kind, "--bootstrap", bootstrap] + (["--quick"] if quick else [])
    for name, value in options.items():
        command += [f"--{name}", str(value)]
    process = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in process.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
        print(line, flush=True)
    raise RuntimeError(f"{kind} {options} failed:\n{process.stdout[-3000:]}\n{process.stderr[-5000:]}")


def ratio(a: float, b: float) -> str:
    return f"{a / b:5.2f}x" if b else "    -"


def print_ingest(result: dict[str, Any]) -> list[str]:
    rows = ["| partitions | writers | records/s | ingester CPU-s/M | broker CPU-s/M | RSS MB: ingester, broker "
            "| vs previous: rate, CPU |",
            "|---|---|---|---|---|---|---|"]
    previous = None
    for p in result["points"]:
        against = (f"{ratio(p['records_per_s'], previous['records_per_s'])}, "
                   f"{ratio(p['ingester_cpu_per_m'], previous['ingester_cpu_per_m'])}") if previous else "-"
        rows.append(f"| {p['partitions']} | {p['writers']} | {p['records_per_s']:,.0f} | {p['ingester_cpu_per_m']:.2f} "
                    f"| {p['broker_cpu_per_m']:.2f} | {p['rss_mb']:,.0f}, {p['broker_rss_mb']:,.0f} | {against} |")
        previous = p
    return rows


STORE_FIGURES = ("edges 1h", "edges 1h, worst hour", "graph 24h", "drill-down 1h", "series 24h")


def print_stores(stores: list[dict[str, Any]]) -> list[str]:
    rows = ["| records | edges | " + " | ".join(f"{f} (ms)" for f in STORE_FIGURES)
            + " | edges 1h, no tail (ms) | SELECT 1 (ms) | edges 1h in the engine: queries, planning / query ms"
            " | raw B/record"
            " | rollup B/record | RSS MB (peak) | vs previous: work, edges 1h, graph |",
            "|---|---|" + "---|" * (len(STORE_FIGURES) + 7)]
    previous = None
    for s in stores:
        against = "-"
        if previous:
            same_edges = s["edges"] == previous["edges"]
            work = s["records"] / previous["records"] if same_edges else s["edges"] / previous["edges"]
            against = (f"{work:.1f}x, {ratio(s['edges 1h'], previous['edges 1h'])}, "
                       f"{ratio(s['graph 24h'], previous['graph 24h'])}")
        no_tail = f"{s['edges 1h, no tail']:.1f}" if "edges 1h, no tail" in s else "-"
        rows.append(f"| {s['records']:,} | {s['edges']:,} | " + " | ".join(f"{s[f]:.1f}" for f in STORE_FIGURES)
                    + f" | {no_tail} | {s['select 1']:.1f} | {_engine(s.get('edges 1h engine'))} "
                      f"| {s['raw bytes/record']:.1f} | {s['rollup bytes/record']:.2f} "
                      f"| {s['rss_mb']:,.0f} ({s['peak_rss_mb']:,.0f}) | {against} |")
        previous = s
    return rows


def _engine(work: dict[str, float] | None) -> str:
    return f"{work['queries']:.0f}, {work['planning ms']:.1f} / {work['query ms']:.1f}" if work else "-"


def print_rules(rules: list[dict[str, Any]]) -> list[str]:
    rows = ["| edges | rollup rows | 6 rules (s) | 30 rules (s) | 30 / 6 | 6 rules in the engine: queries, planning / "
            "query ms | RSS MB | vs previous: edges, 6 rules |",
            "|---|---|---|---|---|---|---|---|"]
    previous = None
    for r in rules:
        against = (f"{r['edges'] / previous['edges']:.0f}x, {ratio(r['6 rules'], previous['6 rules'])}"
                   if previous else "-")
        rows.append(f"| {r['edges']:,} | {r['rollup_rows']:,} | {r['6 rules']:.3f} | {r['30 rules']:.3f} "
                    f"| {ratio(r['30 rules'], r['6 rules'])} | {_engine(r.get('6 rules engine'))} | {r['rss_mb']:,.0f} "
                    f"| {against} |")
        previous = r
    return rows


def goals(stores: list[dict[str, Any]], rules: list[dict[str, Any]], quick: bool) -> list[tuple[str, str, str, bool]]:
    """The issue's targets where this run measured them (in quick mode: at the quick sizes, marked)."""
    out = []
    grid = QUICK if quick else FULL
    for figure, targets in TARGETS.items():
        for (records, edges), ms in targets.items():
            index = FULL["stores"].index((records, edges))
            if index >= len(grid["stores"]):
                continue
            q_records, q_edges = grid["stores"][index]
            found = [s for s in stores if (s["records"], s["edges"]) == (q_records, q_edges)]
            if found:
                label = f"{figure} at {q_records:,} records, {q_edges:,} edges" + (" (quick size)" if quick else "")
                out.append((label, f"< {ms} ms", f"{found[0][figure]:.1f} ms", found[0][figure] < ms))
    for (edges, count), seconds in RULE_TARGETS.items():
        index = FULL["rule_edges"].index(edges)
        if index >= len(grid["rule_edges"]):
            continue
        q_edges = grid["rule_edges"][index]
        found = [r for r in rules if r["edges"] == q_edges]
        if found:
            label = f"rule evaluation, {q_edges:,} edges, {count} rules" + (" (quick size)" if quick else "")
            out.append((label, f"< {seconds} s", f"{found[0][f'{count} rules']:.3f} s",
                        found[0][f"{count} rules"] < seconds))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sections", default="ingest,stores,rules")
    parser.add_argument("--max-records", type=int, default=None, help="leave out stores larger than this")
    parser.add_argument("--rule-edges", help="the rules' edge counts, comma-separated (default: the mode's)")
    parser.add_argument("--json", type=Path, help="save the results here after each section (for bench/report.py)")
    parser.add_argument("--docs", action="store_true", help="write docs/performance.md and its plots")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--records", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--edges", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = {"ingest": child_ingest, "store": child_store, "rules": child_rules}[args.child](args)
        print("RESULT " + json.dumps(result), flush=True)
        return

    grid = QUICK if args.quick else FULL
    sections = args.sections.split(",")
    began = time.perf_counter()
    print(f"bench/scale.py {'--quick ' if args.quick else ''}load average {os.getloadavg()[0]:.1f}", flush=True)
    results: dict[str, Any] = {"quick": args.quick, "when": datetime.now(UTC).isoformat(timespec="minutes")}
    if "ingest" in sections:
        from bench.ingest import ensure_broker

        ensure_broker(args.bootstrap)
        results["ingest"] = run_child("ingest", args.quick, args.bootstrap)
        save(args.json, results)
        print("\ningest, native records (1,000 a message):")
        print("\n".join(print_ingest(results["ingest"])), flush=True)
    if "stores" in sections:
        results["stores"] = []
        for records, edges in grid["stores"]:
            if args.max_records and records > args.max_records:
                print(f"  store {records:,} records, {edges:,} edges: left out (--max-records)")
                continue
            results["stores"].append(run_child("store", args.quick, args.bootstrap, records=records, edges=edges))
            save(args.json, results)
        print("\nstores (HTTP medians):")
        print("\n".join(print_stores(results["stores"])), flush=True)
    if "rules" in sections:
        results["rules"] = []
        for edges in [int(e) for e in args.rule_edges.split(",")] if args.rule_edges else grid["rule_edges"]:
            results["rules"].append(run_child("rules", args.quick, args.bootstrap, edges=edges))
            save(args.json, results)
        print("\nrule evaluation:")
        print("\n".join(print_rules(results["rules"])), flush=True)
    table = results["goals"] = goals(results.get("stores", []), results.get("rules", []), args.quick)
    save(args.json, results)
    print("\nfigure | goal | measured | met")
    for figure, goal, measured, met in table:
        print(f"{figure} | {goal} | {measured} | {'yes' if met else 'no'}")
    print(f"\nbench/scale.py done in {time.perf_counter() - began:.0f} s", flush=True)
    if args.docs:
        from bench.report import write_report

        write_report(results)


def save(path: Path | None, results: dict[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
