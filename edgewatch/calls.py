"""Reading calls from ``requests`` so that each call counts once: SQL fragments and their parameters.

In a mesh both proxies log a call, with the same ``request_id``: the caller's (reporter
``source``) and the callee's (reporter ``destination``). A call counts by the caller's
report; the callee's report counts only when no caller's report of the same request id
exists within the range widened by ``SLACK`` on both sides (traffic from outside the mesh).
A callee's report without a request id cannot be matched and counts.

Used by the raw path of :mod:`edgewatch.edges`, by :mod:`edgewatch.drilldown` and by
:mod:`edgewatch.settle`. Fragments take the range as parameters ``a_ms``, ``b_ms`` (epoch
milliseconds, [a, b)) and ``slack_ms``; see :func:`range_params`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

SLACK = timedelta(seconds=60)
"""How far apart the caller's and the callee's timestamps of one call may be (clock skew)."""

KEYS = "source_workload, source_namespace, destination_service, destination_namespace, destination_kind"
EDGE = ("concat(source_workload, '\\x1f', source_namespace, '\\x1f', destination_service, '\\x1f', "
        "destination_namespace, '\\x1f', destination_kind)")
"""The five keys as one string, a column of the rollups (0002, 0003): one key groups faster than five."""
EDGE_SEPARATOR = "\x1f"

IS_ERROR = "(code >= 500 OR code = 0)"
IS_TIMEOUT = "(has(splitByChar(',', flags), 'UT') OR code = 504)"

# Latency is kept as a histogram of log-spaced buckets, Map(bucket -> calls): bucket k holds
# the durations in (10^((k-1)/60), 10^(k/60)] ms, 60 buckets per power of ten, so that round
# thresholds (1, 10, 100, 1000 ms) are bucket bounds; bucket -120 also holds everything under
# 10 microseconds. Histograms merge by adding counts, exactly: a window's percentiles are the
# same whichever rollup rows (or raw records) they are read from. A percentile is reported as
# the middle of its bucket, 2 G^k / (1 + G) with G = 10^(1/60): at most (G - 1) / (G + 1) =
# 1.92% from the exact value, about 1% on average (docs/edges.md). migrations/0002 repeats
# LATENCY_BUCKET.
LATENCY_GROWTH = 10 ** (1 / 60)
LATENCY_BUCKET = "toInt16(greatest(-120, least(600, ceil(60 * log10(duration_ms)))))"


def latency_histogram(buckets: str) -> str:
    """SQL: the Map(Int16, UInt64) histogram of ``buckets``, an expression of a sorted Array(Int16)."""
    starts = f"arrayFilter(i -> i = 1 OR {buckets}[i] != {buckets}[i - 1], arrayEnumerate({buckets}))"
    counts = f"arrayPopFront(arrayDifference(arrayPushBack({starts}, length({buckets}) + 1)))"
    return f"mapFromArrays(arrayMap(i -> {buckets}[i], {starts}), arrayMap(n -> toUInt64(n), {counts}))"


def latency_buckets(histograms: str = "latency") -> str:
    """SQL aggregate: the buckets of p50, p95 and p99 of a column of latency histograms merged
    (:func:`bucket_ms` gives milliseconds; an empty group gives bucket 0, so count the calls)."""
    return f"quantilesExactWeightedArray(0.5, 0.95, 0.99)(mapKeys({histograms}), mapValues({histograms}))"


def bucket_ms(bucket: int) -> float:
    """The middle of a latency bucket, in ms: within 1.92% of every duration in the bucket."""
    return float(10 ** (bucket / 60) * 2 / (1 + LATENCY_GROWTH))


def latency_quantiles(histograms: str) -> str:
    """SQL aggregate: [p50, p95, p99] in ms merged from a column of latency histograms, NaNs when empty."""
    return (f"if(sum(length(mapKeys({histograms}))) = 0, [nan, nan, nan], "
            f"arrayMap(k -> pow(10, k / 60) * {2 / (1 + LATENCY_GROWTH)!r}, "
            f"{latency_buckets(histograms)}))")


# The numbers of a group of calls, exactly as edge_minute_mv (0002) computes them, over rows
# that carry `code` and `flags` (CALL_ROWS), in two steps: CALL_AGGREGATES per group, then
# CALL_COLUMNS over its result gives the column names and types of edge_minute.
CALL_AGGREGATES = f"""count() AS requests,
    countIf({IS_ERROR}) AS errors,
    countIf(code >= 400 AND code < 500) AS client_errors,
    countIf({IS_TIMEOUT}) AS timeouts,
    sumMap(map(code, toUInt64(1))) AS status_codes,
    sumMap(map(flags, toUInt64(1))) AS response_flags,
    sum(duration_ms) AS duration_sum_ms,
    min(if({IS_TIMEOUT}, duration_ms, inf)) AS timeout_duration_min,
    arraySort(groupArray({LATENCY_BUCKET})) AS latency_buckets,
    arraySort(groupArrayIf({LATENCY_BUCKET}, NOT {IS_ERROR})) AS latency_ok_buckets"""
CALL_COLUMNS = f"""requests, errors, client_errors, timeouts, status_codes, response_flags, duration_sum_ms,
    timeout_duration_min, {latency_histogram("latency_buckets")} AS latency,
    {latency_histogram("latency_ok_buckets")} AS latency_ok"""
CALL_ROWS = "(SELECT *, response_code AS code, toString(response_flags) AS flags FROM requests WHERE %s)"

_MS = "fromUnixTimestamp64Milli({%s:Int64}, 'UTC')"
IN_RANGE = f"timestamp >= {_MS % 'a_ms'} AND timestamp < {_MS % 'b_ms'}"


def callee_only(filters: str = "1") -> str:
    """Condition on ``requests``: a callee's report with no caller's report of the same call.

    The caller's reports are looked up by the request ids of the callee's reports in range
    that match ``filters``, so the lookup's memory grows with the callee's reports only.
    """
    return f"""reporter = 'destination' AND (request_id = '' OR request_id NOT IN (
        SELECT request_id FROM requests
        WHERE reporter = 'source'
          AND timestamp >= fromUnixTimestamp64Milli({{a_ms:Int64}} - {{slack_ms:Int64}}, 'UTC')
          AND timestamp < fromUnixTimestamp64Milli({{b_ms:Int64}} + {{slack_ms:Int64}}, 'UTC')
          AND request_id IN (SELECT request_id FROM requests
                             WHERE reporter = 'destination' AND request_id != '' AND {IN_RANGE} AND {filters})))"""


def counted_once(filters: str = "1") -> str:
    """Condition on ``requests``: one report per call within the range, matching ``filters``."""
    return f"{IN_RANGE} AND {filters} AND (reporter = 'source' OR ({callee_only(filters)}))"


def range_params(start: datetime, end: datetime) -> dict[str, int]:
    """The range parameters of :func:`callee_only` and :func:`counted_once`."""
    return {"a_ms": epoch_ms(start), "b_ms": epoch_ms(end), "slack_ms": epoch_ms(SLACK)}


def epoch_ms(value: datetime | timedelta) -> int:
    """Milliseconds since the epoch (of a timezone-aware datetime) or in a timedelta."""
    return round((value.total_seconds() if isinstance(value, timedelta) else value.timestamp()) * 1000)


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
