"""The ClickHouse datasource's example panel SQL, made from the rollup's spec (edgewatch/rollup.py)
so that it cannot drift from the tables: every measure of ``edge_minute`` is read the way its
states merge (``Measure.read``: ``sum``, ``sumMap``, ``min``), and the latency histogram is read
as percentiles of the merged histogram (edgewatch/latency.py), never as an average of rows.
"""

from __future__ import annotations

from edgewatch.latency import quantiles_ms
from edgewatch.rollup import EDGE_MINUTE

HISTOGRAMS = ("latency", "latency_ok")
"""Histogram measures: read as percentiles, not shown as maps."""
TIME_FILTER = "$__timeFilter(minute)"
"""The datasource's macro: the panel's time range on the rollup's time column."""


def rollup_edges_sql() -> str:
    """Every edge's numbers over the panel's range, straight from ``edge_minute``, worst first.

    The rollup holds the caller's reports and the settled callee-only calls: over a settled range
    the numbers are those of ``/api/v1/edges``; the last minutes lack the callee-only calls the
    API adds from the raw table until settling (docs/edges.md)."""
    table = EDGE_MINUTE
    measures = [f"{m.read} AS {m.name}" for m in table.measures if m.name not in HISTOGRAMS]
    latency = quantiles_ms("latency")
    return "\n".join([
        "SELECT source_namespace, source_workload AS source, destination_namespace,",
        "       destination_service AS destination, destination_kind,",
        "       " + ",\n       ".join(measures) + ",",
        "       errors / requests AS error_rate,",
        "       timeouts / requests AS timeout_rate,",
        f"       {latency} AS latency_ms,",
        "       latency_ms[1] AS p50_ms, latency_ms[2] AS p95_ms, latency_ms[3] AS p99_ms",
        f"FROM {table.name}",
        f"WHERE {TIME_FILTER}",
        "GROUP BY source_namespace, source, destination_namespace, destination, destination_kind",
        "ORDER BY error_rate DESC, requests DESC",
    ])
