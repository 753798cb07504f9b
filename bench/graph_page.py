"""Benchmark of the graph at scale: ``GET /api/v1/graph?window=1h`` and the graph page, at
1,000 nodes and 3,000 edges.

Loads an hour of synthetic calls (``--calls`` per edge, default 100) straight into ``requests``
with one ``INSERT ... SELECT FROM numbers()``: 470 Services in 20 namespaces, each served by
its own workload (``svc-N-v1``, named in the records, so the graph has its serves links), 10
front workloads, 49 external hosts and callers from outside the mesh; every workload calls
Services further down the chain (or external hosts past its end), so the graph is layered.
Then serves the API with uvicorn on a free port and reports:

- the median of ``--runs`` timings of ``GET /api/v1/graph?window=1h`` through HTTP (target < 250 ms);
- in headless Chromium (Debian's chromium, Selenium), ``--loads`` fresh loads of the page: its
  first full draw in ms since navigation started (fetch, layout, drawing, two painted frames;
  target < 2 s), and ``--refreshes`` refreshes of each load (fetch, update in place, painted),
  checking that they ran no layout and moved no node.

    .venv/bin/python bench/graph_page.py [--calls N] [--runs N] [--loads N] [--refreshes N] [--path DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from api.app import create_app  # noqa: E402
from edgewatch.clickhouse import connect  # noqa: E402
from edgewatch.migrate import migrate  # noqa: E402
from edgewatch.settings import Settings  # noqa: E402
from tests.ui.browser import LiveServer, chromium, missing  # noqa: E402

SERVICES, FRONTS, EXTERNALS, NAMESPACES = 470, 10, 49, 20
EDGES = 3000
# Services are in six tiers of 79 (the last 75). Edge e: for e < 2900, workload svc-a-v1
# (a = e % 470, tier t) makes its j-th call (j = e // 470) to Service (7a + 11j) mod the next
# tier's size in that tier, or past the last tier to external host (7a + 11j) mod 49 (distinct
# for j < 7); e < 2990: front-k calls tier 0's Service (7k + 3i) mod 79; else a caller outside
# the mesh calls svc-0..9. A mesh of that shape is wide and about 13 columns deep.
LOAD_SQL = """
INSERT INTO requests (timestamp, source_workload, source_namespace, destination_service, destination_namespace,
    destination_workload, destination_kind, reporter, request_protocol, method, path, response_code,
    response_flags, duration_ms, request_id, trace_id, bytes_sent, bytes_received, kafka_partition, kafka_offset)
SELECT
    fromUnixTimestamp64Milli(toInt64({start_ms:Int64} + intDiv(number * 3600000, {rows:UInt64})), 'UTC'),
    multiIf(e < 2900, 'svc-' || toString(a) || '-v1', e < 2990, 'front-' || toString(e % 10), 'unknown'),
    multiIf(e < 2900, 'ns-' || toString(a % {namespaces:UInt32}), e < 2990, 'ns-0', ''),
    if(external, 'api-' || toString(b - {services:UInt32}) || '.example.com', 'svc-' || toString(b)),
    if(external, '', 'ns-' || toString(b % {namespaces:UInt32})),
    if(external, '', 'svc-' || toString(b) || '-v1'),
    if(external, 'external', 'service'),
    'source', 'HTTP/1.1', 'GET', '/items/' || toString(h % 100),
    toUInt16(multiIf(e % 13 = 0 AND h % 100 < 12, 503, e % 7 = 0 AND h % 100 < 2, 504, 200)) AS code,
    if(code = 504, 'UT', '-'),
    round(3 + (h % 997) / 10.0 * (1 + e % 4), 3),
    lower(hex(cityHash64(number, 7))), lower(hex(cityHash64(number, 8))), 100, 200, 0, number
FROM
(
    SELECT number, cityHash64(number) AS h, number % {edges:UInt64} AS e,
        e % {services:UInt32} AS a, intDiv(e, {services:UInt32}) AS j,
        intDiv(a, 79) AS t,
        multiIf(e >= 2990, e - 2990,
                e >= 2900, (7 * (e % 10) + 3 * intDiv(e - 2900, 10)) % 79,
                t = 5, {services:UInt32} + (7 * a + 11 * j) % 49,
                (t + 1) * 79 + (7 * a + 11 * j) % if(t = 4, 75, 79)) AS b,
        e < 2900 AND t = 5 AS external
    FROM numbers({rows:UInt64})
)
"""


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def bench_api(url: str, runs: int) -> tuple[float, int, int]:
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(2):
            body = http.get("/api/v1/graph", params={"window": "1h"}).raise_for_status().json()
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            http.get("/api/v1/graph", params={"window": "1h"}).raise_for_status()
            times.append(time.perf_counter() - began)
    return median_ms(times), len(body["nodes"]), len(body["edges"])


POSITIONS = "return window.edgewatch.view.cy.nodes().map(n => [n.id(), n.position('x'), n.position('y')])"


def bench_page(url: str, loads: int, refreshes: int) -> tuple[list[float], list[float], list[dict[str, float]]]:
    """First full draws (ms since navigation), refreshes (ms) and the first draws' parts (ms:
    ``start``, the page's scripts until its first request; ``fetch``, the graph and alerts;
    ``show``, building and placing the elements; ``rest``, filters and fit; ``paint``, two
    frames), over ``loads`` page loads."""
    draws, refreshed, parts = [], [], []
    with chromium() as driver:
        for _ in range(loads):
            driver.get(f"{url}/?window=1h&paused=1")
            deadline = time.monotonic() + 120
            script = "return window.edgewatch && window.edgewatch.timings.firstDraw"
            while (first := driver.execute_script(script)) is None:
                assert time.monotonic() < deadline, "the page did not draw in 120 s"
                time.sleep(0.05)
            draws.append(first)
            part = driver.execute_script("const t = window.edgewatch.timings; return {...t.first, "
                                         "start: t.firstDraw - t.firstRefreshMs}")
            parts.append(part)
            before = driver.execute_script(POSITIONS)
            for _ in range(refreshes):
                took = driver.execute_async_script(
                    "const done = arguments[arguments.length - 1]; const t = performance.now();"
                    "window.edgewatch.refresh().then(() => done(performance.now() - t));")
                refreshed.append(took)
            assert driver.execute_script("return window.edgewatch.view.layouts") == 1, "a refresh laid the graph out"
            assert driver.execute_script(POSITIONS) == before, "a refresh moved nodes"
    return draws, refreshed, parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100, help="calls per edge in the hour")
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--refreshes", type=int, default=5)
    parser.add_argument("--path", type=Path, help="engine folder (default: a temporary one)")
    args = parser.parse_args()
    if (reason := missing()) is not None:
        print(f"graph page: {reason}", file=sys.stderr)
        return 2
    folder = args.path or Path(tempfile.mkdtemp(prefix="edgewatch-bench-graph-"))
    try:
        client = connect(f"chdb://{folder}")
        migrate(client)
        now = datetime.now(UTC)
        rows = EDGES * args.calls
        began = time.perf_counter()
        client.command(LOAD_SQL, parameters={
            "rows": rows, "start_ms": int((now - timedelta(hours=1)).timestamp() * 1000), "edges": EDGES,
            "services": SERVICES, "namespaces": NAMESPACES})
        print(f"loaded {rows:,} calls in {time.perf_counter() - began:.1f} s")
        server = LiveServer(create_app(Settings.model_validate({}), client))
        try:
            api_ms, nodes, edges = bench_api(server.url, args.runs)
            print(f"GET /api/v1/graph?window=1h: {nodes} nodes, {edges} edges, median {api_ms:.0f} ms "
                  f"over {args.runs} runs (target < 250 ms)")
            draws, refreshes, parts = bench_page(server.url, args.loads, args.refreshes)
            print(f"page, first full draw: median {statistics.median(draws):.0f} ms since navigation "
                  f"(each: {', '.join(f'{d:.0f}' for d in draws)}; target < 2000 ms)")
            for key in ("start", "fetch", "show", "rest", "paint"):
                print(f"    {key:5} median {statistics.median(p[key] for p in parts):.0f} ms")
            print(f"page, refresh (fetch, update in place, painted; no layout, no node moved): median "
                  f"{statistics.median(refreshes):.0f} ms over {len(refreshes)}")
        finally:
            server.stop()
    finally:
        if args.path is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
