-- 0002: the per-minute, per-edge rollup that the API and the alert rules read.
--
-- One row per (minute, caller, callee) holding counts, status and flag breakdowns and
-- latency histograms; kept 90 days. Only the caller's report of a call feeds it
-- (reporter = 'source'): in a mesh both proxies log every call with the same request_id, and
-- counting both would double every edge. Calls that only the callee reported (traffic from
-- outside the mesh) are added later; see docs/edges.md.
--
-- An error is response_code >= 500 or 0 (no response); a timeout is flag UT or code 504.
--
-- Latency is a histogram, Map(bucket -> calls), of log-spaced buckets: bucket k holds the
-- durations in (10^((k-1)/60), 10^(k/60)] ms, 60 per power of ten; bucket -120 also everything
-- under 10 microseconds (the bucket expression is edgewatch/calls.py's LATENCY_BUCKET).
-- Histograms merge by adding counts, exactly and cheaply; a percentile read from them is
-- within 1.92% of the exact value.

CREATE TABLE IF NOT EXISTS edge_minute
(
    minute                DateTime('UTC'),
    source_workload       LowCardinality(String),
    source_namespace      LowCardinality(String),
    destination_service   LowCardinality(String),
    destination_namespace LowCardinality(String),
    destination_kind      LowCardinality(String),
    -- the five keys as one string (edgewatch/calls.py's EDGE): one key groups faster than five
    edge                  LowCardinality(String) MATERIALIZED concat(source_workload, '\x1f', source_namespace, '\x1f',
                              destination_service, '\x1f', destination_namespace, '\x1f', destination_kind),
    requests              SimpleAggregateFunction(sum, UInt64),
    errors                SimpleAggregateFunction(sum, UInt64),
    client_errors         SimpleAggregateFunction(sum, UInt64),
    timeouts              SimpleAggregateFunction(sum, UInt64),
    status_codes          SimpleAggregateFunction(sumMap, Map(UInt16, UInt64)),
    response_flags        SimpleAggregateFunction(sumMap, Map(String, UInt64)),
    duration_sum_ms       SimpleAggregateFunction(sum, Float64),
    -- durations of calls ended by Envoy's upstream timeout: the edge's timeout, inferred
    timeout_duration_min  SimpleAggregateFunction(min, Float64),
    latency               SimpleAggregateFunction(sumMap, Map(Int16, UInt64)),
    -- latency of successful calls only (response_code 1xx-4xx), for timeout headroom
    latency_ok            SimpleAggregateFunction(sumMap, Map(Int16, UInt64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(minute)
ORDER BY (minute, source_namespace, source_workload, destination_namespace, destination_service, destination_kind)
TTL minute + toIntervalDay(90)
-- small granules: windows read a few hundred rows per minute
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS edge_minute_mv TO edge_minute AS
SELECT
    minute, source_workload, source_namespace, destination_service, destination_namespace, destination_kind,
    requests, errors, client_errors, timeouts, status_codes, response_flags, duration_sum_ms, timeout_duration_min,
    -- the sorted buckets of the minute's calls, counted per bucket
    mapFromArrays(arrayMap(i -> latency_buckets[i], starts), arrayMap(n -> toUInt64(n),
        arrayPopFront(arrayDifference(arrayPushBack(starts, length(latency_buckets) + 1))))) AS latency,
    mapFromArrays(arrayMap(i -> latency_ok_buckets[i], starts_ok), arrayMap(n -> toUInt64(n),
        arrayPopFront(arrayDifference(arrayPushBack(starts_ok, length(latency_ok_buckets) + 1))))) AS latency_ok
FROM
(
    WITH
        (code >= 500 OR code = 0) AS is_error,
        (has(splitByChar(',', flags), 'UT') OR code = 504) AS is_timeout,
        toInt16(greatest(-120, least(600, ceil(60 * log10(duration_ms))))) AS bucket
    SELECT
        toStartOfMinute(timestamp) AS minute,
        source_workload, source_namespace,
        destination_service, destination_namespace, destination_kind,
        count() AS requests,
        countIf(is_error) AS errors,
        countIf(code >= 400 AND code < 500) AS client_errors,
        countIf(is_timeout) AS timeouts,
        sumMap(map(code, toUInt64(1))) AS status_codes,
        sumMap(map(flags, toUInt64(1))) AS response_flags,
        sum(duration_ms) AS duration_sum_ms,
        min(if(is_timeout, duration_ms, inf)) AS timeout_duration_min,
        arraySort(groupArray(bucket)) AS latency_buckets,
        arraySort(groupArrayIf(bucket, NOT is_error)) AS latency_ok_buckets,
        -- where each run of equal buckets starts
        arrayFilter(i -> i = 1 OR latency_buckets[i] != latency_buckets[i - 1], arrayEnumerate(latency_buckets)) AS starts,
        arrayFilter(i -> i = 1 OR latency_ok_buckets[i] != latency_ok_buckets[i - 1],
                    arrayEnumerate(latency_ok_buckets)) AS starts_ok
    FROM
    (
        -- renamed so that the aggregates may reuse the column names
        SELECT *, response_code AS code, toString(response_flags) AS flags
        FROM requests
        WHERE reporter = 'source'
    )
    GROUP BY minute, source_workload, source_namespace, destination_service, destination_namespace, destination_kind
);

-- Which workloads serve which service, learned from any record that names the workload
-- behind a service (destination_workload; the callee's own proxy always knows it).
CREATE TABLE IF NOT EXISTS service_workloads
(
    destination_service   LowCardinality(String),
    destination_namespace LowCardinality(String),
    destination_workload  LowCardinality(String),
    last_seen             SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (destination_namespace, destination_service, destination_workload)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS service_workloads_mv TO service_workloads AS
SELECT destination_service, destination_namespace, destination_workload, max(timestamp) AS last_seen
FROM requests
WHERE destination_workload != ''
GROUP BY destination_service, destination_namespace, destination_workload;
