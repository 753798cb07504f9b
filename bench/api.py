"""Benchmark of the edge API: rollup answers through HTTP against the same answers from raw records.

Loads ``--rows`` requests (default 20,000,000) spread over the last 24 hours and 300 edges
straight into ``requests`` with one ``INSERT ... SELECT FROM numbers()`` (the views fill the
rollups as they would from the ingester), settles the callee-only calls as a live settler would
(all but the last ``LAG`` minutes: every rollup answer then adds that unsettled tail from
``requests``, which the benchmark prints and times alone), serves the API with
uvicorn on a free port, then reports medians of:

- ``GET /api/v1/edges?window=1h``, ``GET /api/v1/graph?window=24h`` and a drill-down
  ``GET /api/v1/requests?...&status=5xx`` through HTTP;
- the same edge numbers computed by scanning ``requests`` (``edge_stats(raw=True)``,
  called directly, so the raw side does not even pay for HTTP), and the ratios; each rollup
  answer is timed alternately with its raw scan (one round: the rollup three times, the raw
  scan once, in a random order), so that the machine's drifting speed (this
  shared 2-core machine's medians move by 20-30% from one minute to the next) hits both alike;
- the last whole hour, which the rollups answer from one ``edge_hour`` row per edge, the
  fewest rows any rollup design can read for an hour: the floor of the rollup side, the
  rest of its time being the engine's and Python's cost per query;
- the same ratio for each 1-hour window of the last 24 hours (median, lowest, highest): a raw
  scan reads every part of ``requests`` that overlaps its window, so the last hour's ratio
  depends on how that hour lies in the parts, which depends on the time of day the benchmark
  runs; the rows each side read and the parts are printed;
- how far the rollup's p50/p95/p99 of the last hour are from the exact percentiles of the raw
  records (relative error over all edges), and the rollups' size.

Targets on the 2-core machine (issue #17): edges 1h < 20 ms at 20M records and 300 edges,
graph 24h < 50 ms at 300 edges (bench/scale.py measures them at every size and hour of the day);
rollup >= 20x raw. Runs in its own process with its own engine folder (a temporary one unless
``--path``). ``--quick`` (`make bench`): 1,000,000 rows, and the 24 hourly windows left out.

    .venv/bin/python bench/api.py [--rows N] [--path DIR] [--keep] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from clickhouse_connect.driver.client import Client

# This file is named like the `api` package: import from the repository, not from bench/.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from api.app import create_app  # noqa: E402
from bench.ingest import print_goals  # noqa: E402
from edgewatch import windows  # noqa: E402
from edgewatch.calls import CALL_ROWS, counted_once, range_params  # noqa: E402
from edgewatch.clickhouse import connect  # noqa: E402
from edgewatch.edge import KEYS  # noqa: E402
from edgewatch.edges import STATS_MEASURES, edge_stats  # noqa: E402
from edgewatch.migrate import migrate  # noqa: E402
from edgewatch.settings import Settings  # noqa: E402
from edgewatch.settle import LAG, settle, settled_until  # noqa: E402
from edgewatch.windows import TimeRange  # noqa: E402

# Row n belongs to call c (= n, or n - 1 for every tenth row, which is then the callee's own
# report of call n - 1 when that call stays in the mesh). Edge e = hash(c) % {edges} joins
# workload svc-a-v1 (a = e % {sources}, five edges per caller) to service svc-d; with 300 edges,
# 10 go to external hosts and 10 come from outside the mesh (reported by the callee only). Rows
# ``first`` to ``first + rows`` spread over 24 h from ``start_ms``: a store grows by loading more
# rows from where the last load ended (bench/scale.py). ``first`` is a multiple of 10.
LOAD_SQL = """
INSERT INTO requests (timestamp, source_workload, source_namespace, destination_service, destination_namespace,
    destination_workload, destination_kind, reporter, request_protocol, method, path, response_code,
    response_flags, duration_ms, request_id, trace_id, bytes_sent, bytes_received, kafka_partition, kafka_offset)
SELECT
    fromUnixTimestamp64Milli(toInt64({start_ms:Int64} + intDiv((c - {first:UInt64}) * 86400000, {rows:UInt64})
                                     + callee_row), 'UTC'),
    if(outside, 'unknown', 'svc-' || toString(a) || '-v1'),
    if(outside, '', 'ns-' || toString(a % 4)),
    if(external, 'api-' || toString(d) || '.example.com', 'svc-' || toString(d)),
    if(external, '', 'ns-' || toString(d % 4)),
    if(callee_row OR outside, 'svc-' || toString(d) || '-v1', ''),
    if(external, 'external', 'service'),
    if(callee_row OR outside, 'destination', 'source'),
    'HTTP/1.1', if(h % 5 = 0, 'POST', 'GET'), '/api/items/' || toString(h % 1000),
    toUInt16(multiIf(e % 17 = 0 AND h % 100 < 8, 503, e % 23 = 0 AND h % 100 < 15, 404,
                     e % 29 = 0 AND h % 100 < 2, 504, h % 10000 < 5, 500, 200)) AS code,
    if(code = 504, 'UT', '-'),
    round(2 + (h % 997) / 10.0 * (1 + e % 5) + if(h % 1000 = 0, 1500, 0), 3),
    lower(hex(cityHash64(id_source))) || '-' || toString(id_source),
    lower(hex(cityHash64(c, 1))),
    h % 5000, h % 3000, 0, number
FROM
(
    SELECT number,
        toUInt64(if(number % 10 = 9, number - 1, number)) AS c,  -- UInt64: a Variant would hash differently
        cityHash64(c) AS h,
        h % {edges:UInt64} AS e, e % {sources:UInt64} AS a, intDiv(e, {sources:UInt64}) AS b,
        (a + 1 + 11 * b) % {sources:UInt64} AS d,
        (b = 4 AND a % 6 = 0) AS external,
        (b = 3 AND a % 6 = 0) AS outside,
        number % 10 = 9 AND NOT external AND NOT outside AS callee_row,
        if(number % 10 = 9 AND outside, number, c) AS id_source
    FROM numbers({first:UInt64}, {rows:UInt64})
)
"""


def load(client: Client, rows: int, start: datetime, edges: int = 300, first: int = 0) -> float:
    """Load ``rows`` requests of ``edges`` edges (a multiple of 5) in the engine; seconds taken."""
    began = time.perf_counter()
    client.command(LOAD_SQL, parameters={"rows": rows, "start_ms": int(start.timestamp() * 1000), "edges": edges,
                                         "sources": edges // 5, "first": first})
    return time.perf_counter() - began


def median_ms(action: Callable[[], Any], runs: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        action()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def alternating_ms(actions: dict[str, tuple[Callable[[], Any], int]], rounds: int) -> dict[str, float]:
    """Median milliseconds of each action, timed alternately: each round runs every action
    its count of times, in a random order (after one untimed run of each)."""
    for action, _ in actions.values():
        action()
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(rounds):
        for name in random.sample([name for name, (_, count) in actions.items() for _ in range(count)],
                                  sum(count for _, count in actions.values())):
            began = time.perf_counter()
            actions[name][0]()
            times[name].append(time.perf_counter() - began)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def hourly_ratios(client: Client, now: datetime, hours: int = 24) -> list[float]:
    """Raw scan / rollup time of the 1-hour windows ending at ``now``, ``now - 1h``, ... (whole
    minutes, as ``window=1h`` reads them). A raw scan reads every part of ``requests`` that
    overlaps its hour, so its time depends on how the hour lies in the parts; over a day's hours
    the ratio does not depend on the time of day the benchmark runs. Per hour: the median of
    three rollup calls against one raw scan, in a random order."""
    ratios = []
    for back in range(hours):
        span = TimeRange.ending(now - timedelta(hours=back), 3600)
        times = alternating_ms({"rollup": (lambda span=span: edge_stats(client, span, now), 3),
                                "raw": (lambda span=span: edge_stats(client, span, now, raw=True), 1)}, 1)
        ratios.append(times["raw"] / times["rollup"])
    return ratios


def serve_in_thread(settings: Settings, client: Client, now: datetime) -> tuple[uvicorn.Server, str]:
    server = uvicorn.Server(uvicorn.Config(create_app(settings, client, clock=lambda: now),
                                          host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def compare(client: Client, span: TimeRange, now: datetime) -> int:
    """Edges whose counts differ between rollup and raw (0 expected once settled)."""
    rollup = {(e.source, e.destination): e.requests for e in edge_stats(client, span, now)}
    raw = {(e.source, e.destination): e.requests for e in edge_stats(client, span, now, raw=True)}
    return sum(1 for key in rollup.keys() | raw.keys() if rollup.get(key) != raw.get(key))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--path", help="engine folder (default: a temporary one, removed afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--quick", action="store_true", help="1,000,000 rows, no hourly windows")
    args = parser.parse_args()
    if args.quick:
        args.rows = 1_000_000
    path = args.path or tempfile.mkdtemp(prefix="edgewatch-bench-api-")
    try:
        run(args.rows, path, hours=0 if args.quick else 24)
    finally:
        if not args.path and not args.keep:
            shutil.rmtree(path, ignore_errors=True)


def prepare(client: Client, rows: int, now: datetime) -> None:
    """Load, settle (timing the backlog, then one minute as in the steady state), merge the rollups."""
    start = now - timedelta(hours=24)
    print(f"loading {rows:,} requests over 24 h ...", flush=True)
    seconds = load(client, rows, start)
    print(f"  load: {seconds:.1f} s ({rows / seconds:,.0f} rows/s incl. the rollup views)")
    began = time.perf_counter()
    chunks = settle(client, now - timedelta(minutes=5) + LAG, max_chunks=48)
    print(f"  settle, a 24 h backlog: {time.perf_counter() - began:.1f} s in {len(chunks)} chunks")
    began = time.perf_counter()
    settle(client, now - timedelta(minutes=4) + LAG)
    print(f"  settle, one more minute (the steady state, once a minute): {time.perf_counter() - began:.2f} s")
    settle(client, now)  # as a live settler leaves it: the last LAG minutes are not settled yet
    for table in ("edge_minute", "edge_10min", "edge_hour"):
        parts = client.command(f"SELECT count() FROM system.parts WHERE active AND table = '{table}'")
        before = client.command(f"SELECT count() FROM {table}")
        client.command(f"OPTIMIZE TABLE {table} FINAL")  # what background merges reach for all but recent parts
        size = client.command(f"SELECT sum(data_compressed_bytes) FROM system.parts WHERE active AND table = '{table}'")
        print(f"  {table}: {before:,} rows in {parts} parts, {client.command(f'SELECT count() FROM {table}'):,} merged,"
              f" {size / 1e6:.0f} MB compressed")


def rows_read(client: Client, action: Callable[[], Any]) -> int:
    """Rows the engine read during ``action`` (system.events: chDB keeps no query log)."""
    def selected() -> int:
        return int(client.command("SELECT value FROM system.events WHERE event = 'SelectedRows'"))

    first = selected()
    before = selected()
    itself = before - first  # what one reading of the counter reads (system.events, every row)
    action()
    return selected() - before - itself


def percentile_errors(client: Client, span: TimeRange, now: datetime) -> None:
    """Relative error of the rollup's percentiles against exact ones over the raw records."""
    exact = {
        tuple(row[:5]): row[5]
        for row in client.query(
            f"""SELECT {KEYS}, quantilesExact(0.5, 0.95, 0.99)(duration_ms)
                FROM {CALL_ROWS % counted_once()} GROUP BY {KEYS}""",
            parameters=range_params(span.start, span.end),
        ).result_rows
    }
    errors: list[list[float]] = [[], [], []]
    for e in edge_stats(client, span, now):
        truth = exact[(e.source, e.source_namespace, e.destination, e.destination_namespace, e.destination_kind)]
        for i, (got, want) in enumerate(zip((e.p50_ms, e.p95_ms, e.p99_ms), truth, strict=True)):
            errors[i].append(abs((got or 0.0) - want) / want * 100)
    print("  percentiles of 1h, rollup vs exact (relative error over edges, mean / max): "
          + ", ".join(f"{name} {statistics.mean(e):.2f}% / {max(e):.2f}%"
                      for name, e in zip(("p50", "p95", "p99"), errors, strict=True)))


def unsettled(client: Client, span: TimeRange) -> None:
    """What every rollup answer of ``span`` adds from ``requests``: the callee-only calls after the
    settled point (the unsettled tail), their count, the rows that part reads and its time alone."""
    settled = settled_until(client)
    planned = windows.plan(span, STATS_MEASURES, settled=settled)
    tail_only = windows.WindowPlan(span, 0, planned.measures, (), raw=False, tail=planned.tail)
    sql, params = windows.select(tail_only, "sum(requests)", "tuple()")
    calls = client.query(sql, parameters=params).result_rows
    read = rows_read(client, lambda: client.query(sql, parameters=params))
    took = median_ms(lambda: client.query(sql, parameters=params), 11)
    print(f"  unsettled tail of 1h (fresh callee-only calls, not yet in the rollups): settled until "
          f"{settled:%H:%M}, {calls[0][0] if calls else 0:,} calls; "
          f"the tail alone reads {read:,} rows in {took:.1f} ms")


def measure(settings: Settings, client: Client, now: datetime, hours: int = 24) -> tuple[dict[str, float], list[float]]:
    """Median milliseconds of each answer, through HTTP and by direct calls, and the ratios of
    the day's 1-hour windows (:func:`hourly_ratios`)."""
    hour, day = TimeRange.ending(now, 3600), TimeRange.ending(now, 86400)
    whole_hour = TimeRange.ending(now - timedelta(hours=1), 3600, grain=3600)  # ends at the current hour's start
    differ = compare(client, hour, now), compare(client, day, now)
    print(f"  edges whose counts differ, rollup vs raw: 1h {differ[0]}, 24h {differ[1]}")
    percentile_errors(client, hour, now)
    for name, span in (("1h", hour), ("last whole hour", whole_hour)):
        rollup = rows_read(client, lambda span=span: edge_stats(client, span, now))
        raw = rows_read(client, lambda span=span: edge_stats(client, span, now, raw=True))
        print(f"  rows read for {name}: rollup {rollup:,}, raw scan {raw:,}")
    parts = client.query("SELECT count(), max(rows) FROM system.parts WHERE active AND table = 'requests'").result_rows
    print(f"  requests: {parts[0][0]} parts, the largest {parts[0][1]:,} rows")
    unsettled(client, hour)
    server, url = serve_in_thread(settings, client, now)
    worst = edge_stats(client, hour, now)[0]
    drill = {"source": worst.source, "destination": worst.destination, "status": "5xx", "limit": 100, "window": "1h"}
    with httpx.Client(base_url=url, timeout=120) as http:
        def get(path: str, **params: Any) -> Callable[[], Any]:
            return lambda: http.get(path, params=params).raise_for_status()

        results = {
            "edges?window=1h (HTTP)": median_ms(get("/api/v1/edges", window="1h"), 21),
            "graph?window=24h (HTTP)": median_ms(get("/api/v1/graph", window="24h"), 11),
            "requests drill-down 1h, 5xx (HTTP)": median_ms(get("/api/v1/requests", **drill), 11),
        }
    server.should_exit = True
    results |= alternating_ms({
        "edges 1h, rollup (function)": (lambda: edge_stats(client, hour, now), 3),
        "edges last whole hour, rollup (function)": (lambda: edge_stats(client, whole_hour, now), 3),
        "edges 1h, raw scan (function)": (lambda: edge_stats(client, hour, now, raw=True), 1),
    }, 11)
    results |= alternating_ms({
        "edges 24h, rollup (function)": (lambda: edge_stats(client, day, now), 3),
        "edges 24h, raw scan (function)": (lambda: edge_stats(client, day, now, raw=True), 1),
    }, 3)
    print(f"timing the 1-hour windows of the last {hours} hours, rollup against raw scan ...", flush=True)
    return results, hourly_ratios(client, now, hours)


def report(results: dict[str, float], hourly: list[float], rows: int) -> None:
    print("\nmedians:")
    for name, value in results.items():
        print(f"  {name:40s} {value:9.1f} ms")
    raw_1h, raw_24h = results["edges 1h, raw scan (function)"], results["edges 24h, raw scan (function)"]
    print("\nratios (raw scan / rollup, each pair timed alternately):")
    print(f"  1h : {raw_1h / results['edges 1h, rollup (function)']:.1f}x "
          f"(against HTTP edges: {raw_1h / results['edges?window=1h (HTTP)']:.1f}x)")
    print(f"  24h: {raw_24h / results['edges 24h, rollup (function)']:.1f}x "
          f"(against HTTP graph: {raw_24h / results['graph?window=24h (HTTP)']:.1f}x)")
    print(f"  1h raw scan / last whole hour's rollup (one edge_hour row per edge, the fewest rows a 1-hour answer "
          f"can read): {raw_1h / results['edges last whole hour, rollup (function)']:.1f}x")
    if hourly:
        print(f"  each 1-hour window of the last {len(hourly)} hours: median {statistics.median(hourly):.1f}x, "
              f"lowest {min(hourly):.1f}x, highest {max(hourly):.1f}x")
    print(f"load average during the run (2 cores, shared): {os.getloadavg()[0]:.1f}")
    at = f"{rows:,} records, 300 edges (bench/api.py)"
    edges, graph = results["edges?window=1h (HTTP)"], results["graph?window=24h (HTTP)"]
    ratio_1h = raw_1h / results["edges 1h, rollup (function)"]
    print_goals([(f"edges?window=1h at {at}", "< 20 ms", f"{edges:.1f} ms", edges < 20),
                 (f"graph?window=24h at {at}", "< 50 ms", f"{graph:.1f} ms", graph < 50),
                 (f"edges 1h, raw scan / rollup at {at}", ">= 20x", f"{ratio_1h:.1f}x", ratio_1h >= 20)])


def run(rows: int, path: str, hours: int = 24) -> None:
    settings = Settings(clickhouse_url=f"chdb://{path}")
    client = connect(settings.clickhouse_url)
    migrate(client)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    print(f"engine folder {path}; load average {os.getloadavg()[0]:.1f}")
    prepare(client, rows, now)
    report(*measure(settings, client, now, hours), rows)


if __name__ == "__main__":
    main()
