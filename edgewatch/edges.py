"""Edge statistics over a window: one query covers every edge (caller workload -> destination).

Every call is counted once (docs/edges.md): the rollups hold the caller's report of each call
(views), plus the calls only the callee reported once :func:`edgewatch.settle.settle` added
them; the raw path reads ``requests`` as :mod:`edgewatch.calls` describes. Which rows answer a
window is :mod:`edgewatch.windows`' decision (:func:`~edgewatch.windows.plan`).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from edgewatch import windows
from edgewatch.calls import from_epoch
from edgewatch.edge import ALL_EDGES, OUTSIDE_THE_MESH, Edge, EdgeFilter
from edgewatch.health import DEFAULT_THRESHOLDS, Health, HealthThresholds, classify, severity
from edgewatch.latency import bucket_ms, quantile_buckets
from edgewatch.mesh.config import EMPTY, MeshConfig, MeshFacts
from edgewatch.mesh.objects import Retries
from edgewatch.settle import settled_until
from edgewatch.windows import TimeRange

STATS_MEASURES = ("requests", "errors", "client_errors", "timeouts", "status_codes", "response_flags", "latency")
SERIES_MEASURES = ("requests", "errors", "timeouts", "latency")


# A dataclass, not a pydantic model: edge_stats builds one per edge from the engine's typed
# columns, where validating each took about 4.4 microseconds against 1.1 for the dataclass
# (timeit, 18 fields); the API's response models take it as it is and serialize it.
@dataclass
class EdgeStats:
    """One edge's numbers over a window. Rates are fractions (0.01 = 1%)."""

    source: str
    source_namespace: str
    destination: str
    destination_namespace: str
    destination_kind: str
    requests: int
    rps: float
    errors: int
    error_rate: float
    client_errors: int
    timeouts: int
    timeout_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    status_codes: dict[str, int]
    response_flags: dict[str, int]
    health: Health
    # What the mesh's own config says (EDGEWATCH_MESH_CONFIG, docs/mesh-config.md); None where it says nothing.
    service_entry: str | None = None
    """The ServiceEntry that declares the destination host (``fleetman-driver-monitoring``)."""
    location: str | None = None
    """That ServiceEntry's location: ``MESH_EXTERNAL`` or ``MESH_INTERNAL``."""
    timeout_ms: int | None = None
    """The VirtualService timeout the caller's proxy applies to these calls (None for callers outside the mesh)."""
    retries: Retries | None = None
    """The VirtualService retry policy for these calls, where one is set."""

    @property
    def edge(self) -> Edge:
        return Edge(self.source, self.source_namespace, self.destination, self.destination_namespace,
                    self.destination_kind)


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


@functools.cache
def _bucket_ms(bucket: int) -> float:
    return round(bucket_ms(bucket), 3)


def _percentiles(buckets: list[int], calls: int) -> list[float | None]:
    """p50, p95, p99 in ms from the buckets :func:`latency_buckets` gave for ``calls`` calls."""
    return [_bucket_ms(b) if calls else None for b in buckets]


def worst_first(edge: EdgeStats) -> tuple[int, float, float, int, str, str, str, str]:
    """Sort key: health, then error rate, then client errors, then traffic; ties by name, so
    that the order does not depend on the order in which the engine returned the edges."""
    return (-severity(edge.health), -edge.error_rate, -_ratio(edge.client_errors, edge.requests), -edge.requests,
            edge.source_namespace, edge.source, edge.destination_namespace, edge.destination)


def edge_stats(
    client: Client,
    span: TimeRange,
    now: datetime,
    filters: EdgeFilter = ALL_EDGES,
    thresholds: HealthThresholds = DEFAULT_THRESHOLDS,
    raw: bool = False,
    mesh: MeshConfig = EMPTY,
) -> list[EdgeStats]:
    """Every edge with traffic in ``span`` matching ``filters``, worst first; one query.

    ``now`` bounds the time the rates divide by (a range ending in the future has only
    partly passed). ``raw`` reads ``requests`` even for whole minutes: the same answer
    without the rollup, at the cost of a scan. ``mesh`` adds what the mesh's config says
    about each edge (:func:`with_mesh_facts`). Raises clickhouse_connect's errors.
    """
    where, params = filters.sql()
    sql, params = windows.select(
        windows.plan(span, STATS_MEASURES, raw=raw, settled=None if raw else settled_until(client)),
        f"""edge, sum(requests), sum(errors), sum(client_errors), sum(timeouts), sumMap(status_codes),
            sumMap(response_flags), {quantile_buckets()}""", "edge", where, params)
    rows = client.query(sql, parameters=params).result_rows
    elapsed = span.elapsed(now)
    edges = []
    for edge, requests, errors, client_errors, timeouts, codes, flags, buckets in rows:
        src, src_ns, dst, dst_ns, kind = Edge.from_key(edge).columns()
        p50, p95, p99 = _percentiles(buckets, requests)
        edges.append(EdgeStats(
            source=src, source_namespace=src_ns, destination=dst, destination_namespace=dst_ns,
            destination_kind=kind, requests=requests, rps=round(requests / elapsed, 6) if elapsed else 0.0,
            errors=errors, error_rate=_ratio(errors, requests), client_errors=client_errors,
            timeouts=timeouts, timeout_rate=_ratio(timeouts, requests), p50_ms=p50, p95_ms=p95, p99_ms=p99,
            status_codes={str(code): n for code, n in codes.items() if n},  # sumMap sorts its keys
            response_flags={flag: n for flag, n in flags.items() if n},
            health=classify(requests, errors, client_errors, thresholds),
        ))
    if mesh is not EMPTY:
        for stats in edges:
            with_mesh_facts(stats, mesh.for_edge(stats.edge))
    return sorted(edges, key=worst_first)


def with_mesh_facts(stats: EdgeStats, facts: MeshFacts) -> EdgeStats:
    """``stats`` with the mesh config's ``facts`` about its destination (in place). A caller
    outside the mesh (``unknown``) has no sidecar, so no timeout or retries of the mesh apply."""
    stats.service_entry, stats.location = facts.service_entry, facts.location
    if stats.source != OUTSIDE_THE_MESH:
        stats.timeout_ms, stats.retries = facts.timeout_ms, facts.retries
    return stats


class EdgePoint(BaseModel):
    """The numbers of one step of a time series; ``t`` is the step's start."""

    t: datetime
    requests: int
    rps: float
    errors: int
    error_rate: float
    timeouts: int
    timeout_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def edge_timeseries(
    client: Client, span: TimeRange, step: int, now: datetime, filters: EdgeFilter = ALL_EDGES
) -> list[EdgePoint]:
    """The matching edges' traffic summed per ``step`` seconds over ``span``; one query.

    Steps start at multiples of ``step`` since the epoch; ``span`` should be a whole number
    of steps aligned the same way (``TimeRange.ending(end, window, grain=step)``). Steps of a
    minute or more read the rollups, so they must be whole minutes. Every step is present,
    empty ones with zero requests.
    """
    where, params = filters.sql()
    sql, params = windows.select(windows.plan(span, SERIES_MEASURES, grain=step, settled=settled_until(client)),
                                 f"t, sum(requests), sum(errors), sum(timeouts), {quantile_buckets()}", "t",
                                 where, params)
    rows = client.query(sql, parameters=params).result_rows
    return _points({int(t): row for t, *row in rows}, span, step, now)


def edge_series(
    client: Client, span: TimeRange, step: int, now: datetime, filters: EdgeFilter = ALL_EDGES
) -> dict[Edge, list[EdgePoint]]:
    """:func:`edge_timeseries` for each matching edge with traffic in ``span`` apart, in edge
    order; one query. Each edge's series has every step (empty ones with zero requests)."""
    where, params = filters.sql()
    sql, params = windows.select(windows.plan(span, SERIES_MEASURES, grain=step, settled=settled_until(client)),
                                 f"edge, t, sum(requests), sum(errors), sum(timeouts), {quantile_buckets()}",
                                 "edge, t", where, params)
    by_edge: dict[str, dict[int, list[Any]]] = defaultdict(dict)
    for edge, t, *row in client.query(sql, parameters=params).result_rows:
        by_edge[edge][int(t)] = row
    series = {Edge.from_key(key): _points(steps, span, step, now) for key, steps in by_edge.items()}
    return dict(sorted(series.items()))


def _points(by_step: Mapping[int, Sequence[Any]], span: TimeRange, step: int, now: datetime) -> list[EdgePoint]:
    """The points of ``span`` in ``step``s from the rows ``t -> (requests, errors, timeouts, buckets)``."""
    points = []
    first = int(span.start.timestamp()) // step * step
    for t in range(first, int(span.end.timestamp()), step):
        requests, errors, timeouts, buckets = by_step.get(t, (0, 0, 0, [0, 0, 0]))
        elapsed = TimeRange(from_epoch(t), from_epoch(t + step)).elapsed(now)
        p50, p95, p99 = _percentiles(buckets, requests)
        points.append(EdgePoint(
            t=from_epoch(t), requests=requests, rps=round(requests / elapsed, 6) if elapsed else 0.0,
            errors=errors, error_rate=_ratio(errors, requests), timeouts=timeouts,
            timeout_rate=_ratio(timeouts, requests), p50_ms=p50, p95_ms=p95, p99_ms=p99,
        ))
    return points


BREAKDOWNS = ("status_codes", "response_flags")
"""The measures that count calls per value: per response code, per response-flags value."""


def breakdown_series(
    client: Client, span: TimeRange, step: int, measure: str, filters: EdgeFilter = ALL_EDGES
) -> dict[Edge, dict[datetime, dict[str, int]]]:
    """Calls per value of ``measure`` (one of :data:`BREAKDOWNS`) for each matching edge, per
    ``step`` seconds over ``span`` (aligned as for :func:`edge_timeseries`); one query. Only the
    steps and values with calls are present. Raises ValueError for another measure."""
    if measure not in BREAKDOWNS:
        raise ValueError(f"breakdown {measure!r}: use one of {', '.join(BREAKDOWNS)}")
    where, params = filters.sql()
    sql, params = windows.select(windows.plan(span, (measure,), grain=step, settled=settled_until(client)),
                                 f"edge, t, sumMap({measure})",
                                 "edge, t", where, params)
    found: dict[Edge, dict[datetime, dict[str, int]]] = defaultdict(dict)
    for edge, t, counts in client.query(sql, parameters=params).result_rows:
        found[Edge.from_key(edge)][from_epoch(int(t))] = {str(value): n for value, n in counts.items() if n}
    return dict(sorted(found.items()))
