"""Edge statistics over a time range: one query covers every edge (caller workload -> service).

Every call is counted once (docs/edges.md): the rollups (``edge_minute``, ``edge_10min``,
``edge_hour``) hold the caller's report of each call (views), plus the calls only the callee
reported once :func:`edgewatch.settle.settle` added them; the raw path reads ``requests`` as
:mod:`edgewatch.calls` describes.

Ranges of whole minutes read the rollups, as few rows as cover them (:func:`rollup_pieces`);
other ranges read ``requests``. Every value reaches SQL as a server-side parameter; SQL text is only ever
assembled from constant fragments.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from edgewatch.calls import (
    CALL_AGGREGATES,
    CALL_COLUMNS,
    CALL_ROWS,
    EDGE,
    EDGE_SEPARATOR,
    KEYS,
    bucket_ms,
    counted_once,
    epoch_ms,
    from_epoch,
    latency_buckets,
    range_params,
)
from edgewatch.edge import ALL_EDGES, Edge, EdgeFilter
from edgewatch.health import DEFAULT_THRESHOLDS, Health, HealthThresholds, classify, severity

ROLLUP_RETENTION = timedelta(days=90)
HOUR_GRAIN = 3600


def _ceil(moment: datetime, seconds: int) -> datetime:
    return from_epoch(math.ceil(moment.timestamp() / seconds) * seconds)


@dataclass(frozen=True)
class TimeRange:
    """The half-open range [start, end), timezone-aware."""

    start: datetime
    end: datetime

    @classmethod
    def ending(cls, end: datetime, seconds: int, grain: int | None = None) -> TimeRange:
        """``seconds`` long, ending at ``end`` rounded up to a multiple of ``grain`` seconds.

        ``grain`` defaults to the rollup's: an hour for windows of a day or more in whole hours,
        a minute for other windows of whole minutes (the current, partial hour or minute is
        included, so a window covers between ``seconds - grain`` and ``seconds`` of the
        past), none for shorter ones (an exact, raw range).
        """
        if grain is None:
            grain = HOUR_GRAIN if seconds >= 86400 and seconds % 3600 == 0 else 60 if seconds % 60 == 0 else 0
        stop = _ceil(end, grain) if grain else end
        return cls(stop - timedelta(seconds=seconds), stop)

    @property
    def whole_minutes(self) -> bool:
        return self.start.timestamp() % 60 == 0 and self.end.timestamp() % 60 == 0

    def elapsed(self, now: datetime) -> float:
        """Seconds of the range that have passed at ``now`` (the divisor of rates)."""
        return max(0.0, (min(self.end, now) - self.start).total_seconds())


# (table, time column, seconds per row), coarsest first. edge_hour and edge_minute rows lie
# on multiples of their size; edge_10min has a row starting at every minute (migration 0003).
ROLLUPS = (("edge_hour", "hour", 3600), ("edge_10min", "start", 600), ("edge_minute", "minute", 60))
_SIZE = {table: size for table, _, size in ROLLUPS}
_COLUMN = {table: column for table, column, _ in ROLLUPS}
TABLE_COST = 3
"""What reading one more table costs, in rows per edge: a weight, not derived from a measurement.
Timed on bench/api.py's load (2,000,000 requests, 290 edges, chDB, shared 2-core machine), each
further table in the query cost about 5 ms, while tens of rows per edge more stayed within the noise."""

_ROLLUP_COLUMNS = f"{KEYS}, edge, requests, errors, client_errors, timeouts, status_codes, response_flags, latency"

ROLLUP_SETTINGS = "SETTINGS optimize_move_to_prewhere = 0"
"""For the rollup queries: their filters are on the leading key columns, which the primary
key index already narrows to a few granules, so PREWHERE has nothing to save, while planning
it cost about 0.8 ms per query (chDB 4.4, system.events); the 1-hour edges query
took 13.3 ms against 14.2 ms with it (medians of 150 interleaved runs, shared 2-core machine)."""

Piece = tuple[str, str, int, int]
"""(table, time column, from, to): the rows of ``table`` covering [from, to), epoch seconds.
For edge_10min, the rows starting at from, from + 10 min, ... (each covers 10 minutes)."""


def rollup_pieces(start: int, end: int, grain: int | None = None) -> list[Piece]:
    """[start, end) in epoch seconds (whole minutes) cut into rollup rows.

    With a ``grain`` (time series steps, seconds), the coarsest rows that lie whole inside
    buckets of ``grain`` (10-minute rows only on multiples of 10 minutes). Without, the whole
    range is one bucket: the cheapest cover, counting rows per edge plus :data:`TABLE_COST` per
    table, of either 10-minute rows from ``start`` and minutes for the rest, or whole hours
    with such covers of the partial hours at either end.
    """
    if grain is not None:
        return _aligned(start, end, [level for level in ROLLUPS if grain % level[2] == 0])
    options = [_ten_minute_cover(start, end)]
    first_hour, last_hour = -(-start // 3600) * 3600, end // 3600 * 3600
    if first_hour < last_hour:
        options.append([*_ten_minute_cover(start, first_hour), ("edge_hour", "hour", first_hour, last_hour),
                        *_ten_minute_cover(last_hour, end)])
    return min(options, key=_cost)


def _aligned(a: int, b: int, levels: list[tuple[str, str, int]]) -> list[Piece]:
    if a >= b:
        return []
    table, column, size = levels[0]
    first, last = -(-a // size) * size, b // size * size
    if len(levels) == 1:
        return [(table, column, a, b)]
    if first >= last:
        return _aligned(a, b, levels[1:])
    return [*_aligned(a, first, levels[1:]), (table, column, first, last), *_aligned(last, b, levels[1:])]


def _ten_minute_cover(a: int, b: int) -> list[Piece]:
    """[a, b) as 10-minute rows starting at ``a``, then minutes for the rest."""
    tens = a + (b - a) // 600 * 600
    return [piece for piece in (("edge_10min", "start", a, tens), ("edge_minute", "minute", tens, b))
            if piece[2] < piece[3]]


def _cost(pieces: list[Piece]) -> int:
    return sum((b - a) // _SIZE[table] for table, _, a, b in pieces) + TABLE_COST * len({p[0] for p in pieces})


def grouped_query(
    span: TimeRange, filters: EdgeFilter, select: str, group_by: str, grain: int | None = None, raw: bool = False
) -> tuple[str, dict[str, Any]]:
    """``SELECT {select} ... GROUP BY {group_by}`` over the calls of ``span`` matching
    ``filters``, counted once, and its parameters.

    ``select`` and ``group_by`` may use the columns of edge_10min (keys, ``edge``, counts, maps,
    ``latency`` histograms) and ``t``, epoch seconds rounded down to a multiple of ``grain``
    (0 without a grain). Spans of whole minutes with a grain of whole minutes (or none) read the
    rollups (:func:`rollup_pieces`); others, and every span when ``raw``, read ``requests``.
    """
    where, params = filters.sql()
    params["grain"] = grain or 0
    if raw or not span.whole_minutes or (grain or 60) % 60:
        params.update(range_params(span.start, span.end))
        bucket = "intDiv(toUInt32(timestamp), {grain:UInt32}) * {grain:UInt32}" if grain else "0"
        sql = f"""SELECT {select} FROM (
                SELECT t, {KEYS}, {EDGE} AS edge, {CALL_COLUMNS} FROM (
                    SELECT {bucket} AS t, {KEYS}, {CALL_AGGREGATES}
                    FROM {CALL_ROWS % counted_once(where)} GROUP BY t, {KEYS}))
            GROUP BY {group_by}"""
        return sql, params
    ranges: dict[str, list[str]] = {}
    for i, (table, column, a, b) in enumerate(rollup_pieces(int(span.start.timestamp()), int(span.end.timestamp()),
                                                            grain)):
        params.update({f"r{i}a": a, f"r{i}b": b})
        condition = (f"{column} >= toDateTime({{r{i}a:UInt32}}, 'UTC') "
                     f"AND {column} < toDateTime({{r{i}b:UInt32}}, 'UTC')")
        if table == "edge_10min":  # the rows starting every 10 minutes from a; the key's leading expression
            params[f"r{i}p"] = a // 60 % 10
            condition = f"toMinute(start) % 10 = {{r{i}p:UInt8}} AND {condition}"
        ranges.setdefault(table, []).append(f"({condition})")
    bucket = "intDiv(toUInt32({column}), {{grain:UInt32}}) * {{grain:UInt32}}" if grain else "0"
    sources = {table: f"{table} WHERE ({' OR '.join(conditions)}) AND {where}" for table, conditions in ranges.items()}
    if len(sources) == 1:  # the common case (an hour: edge_10min): no subquery, which costs a little
        ((table, source),) = sources.items()
        t = bucket.format(column=_COLUMN[table])
        return f"WITH {t} AS t SELECT {select} FROM {source} GROUP BY {group_by} {ROLLUP_SETTINGS}", params
    union = "\nUNION ALL\n".join(
        f"SELECT {bucket.format(column=_COLUMN[table])} AS t, {_ROLLUP_COLUMNS} FROM {source}"
        for table, source in sources.items()
    )
    return f"SELECT {select} FROM ({union}) GROUP BY {group_by} {ROLLUP_SETTINGS}", params


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
) -> list[EdgeStats]:
    """Every edge with traffic in ``span`` matching ``filters``, worst first; one query.

    ``now`` bounds the time the rates divide by (a range ending in the future has only
    partly passed). ``raw`` reads ``requests`` even for whole minutes: the same answer
    without the rollup (and without waiting for settling), at the cost of a scan.
    Raises clickhouse_connect's errors.
    """
    sql, params = grouped_query(
        span, filters, f"""edge, sum(requests), sum(errors), sum(client_errors), sum(timeouts), sumMap(status_codes),
            sumMap(response_flags), {latency_buckets()}""", "edge", raw=raw)
    rows = client.query(sql, parameters=params).result_rows
    elapsed = span.elapsed(now)
    edges = []
    for edge, requests, errors, client_errors, timeouts, codes, flags, buckets in rows:
        src, src_ns, dst, dst_ns, kind = edge.split(EDGE_SEPARATOR)
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
    return sorted(edges, key=worst_first)


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
    sql, params = grouped_query(span, filters, f"t, sum(requests), sum(errors), sum(timeouts), {latency_buckets()}",
                                "t", grain=step)
    rows = client.query(sql, parameters=params).result_rows
    by_step = {int(t): row for t, *row in rows}
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


@dataclass(frozen=True)
class ServingWorkload:
    """``workload`` served ``service`` (learned from the callee's reports)."""

    service: str
    namespace: str
    workload: str


def serving_workloads(
    client: Client, since: datetime, service: str | None = None, namespace: str | None = None
) -> list[ServingWorkload]:
    """Which workloads served which services at some time since ``since``, ordered by
    namespace, service and workload; only ``service`` and ``namespace`` when given (None: any)."""
    clauses = ["last_seen >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')"]
    params: dict[str, Any] = {"since_ms": epoch_ms(since)}
    if service is not None:
        clauses.append("destination_service = {service:String}")
        params["service"] = service
    if namespace is not None:
        clauses.append("destination_namespace = {namespace:String}")
        params["namespace"] = namespace
    where = " AND ".join(clauses)
    # GROUP BY only merges the rows of parts not merged yet: a key is kept when any of its
    # rows is recent enough, which is what max(last_seen) >= since would keep.
    rows = client.query(
        f"""SELECT destination_service, destination_namespace, destination_workload
            FROM service_workloads
            WHERE {where}
            GROUP BY destination_service, destination_namespace, destination_workload
            ORDER BY destination_namespace, destination_service, destination_workload""",
        parameters=params,
    ).result_rows
    return [ServingWorkload(*row) for row in rows]
