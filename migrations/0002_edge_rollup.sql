-- 0002: the per-edge rollups. GENERATED from edgewatch/rollup.py by `python -m edgewatch.rollup --write`:
-- change the spec there, never this file (tests/test_schema.py compares the two, and the engine's schema).
--
-- One row per (bucket, caller, callee) holding counts, status and flag breakdowns and latency
-- histograms; kept 90 days. Only the caller's report of a call feeds edge_minute_mv
-- (reporter = 'source'): in a mesh both proxies log every call with the same request_id, and
-- counting both would double every edge. Calls that only the callee reported (traffic from outside
-- the mesh) are added to edge_minute by settling (edgewatch/settle.py); the views pass them on.
-- edge_hour and edge_10min are fed from edge_minute. docs/edges.md explains windows and costs.

-- edge_minute: per minute; windows read a few hundred rows per minute, hence small granules
CREATE TABLE IF NOT EXISTS edge_minute
(
    minute                 DateTime('UTC'),
    source_workload        LowCardinality(String),
    source_namespace       LowCardinality(String),
    destination_service    LowCardinality(String),
    destination_namespace  LowCardinality(String),
    destination_kind       LowCardinality(String),
    -- the five keys as one string (edgewatch/edge.py's EDGE_KEY): one key groups faster than five
    edge                   LowCardinality(String) MATERIALIZED concat(source_workload, '\x1f', source_namespace, '\x1f', destination_service, '\x1f', destination_namespace, '\x1f', destination_kind),
    -- calls
    requests               SimpleAggregateFunction(sum, UInt64),
    -- server errors: 5xx, or no response (code 0)
    errors                 SimpleAggregateFunction(sum, UInt64),
    -- client errors: 4xx
    client_errors          SimpleAggregateFunction(sum, UInt64),
    -- timeouts: Envoy's flag UT, or code 504
    timeouts               SimpleAggregateFunction(sum, UInt64),
    -- calls per response code
    status_codes           SimpleAggregateFunction(sumMap, Map(UInt16, UInt64)),
    -- calls per response-flags value ('-': none)
    response_flags         SimpleAggregateFunction(sumMap, Map(String, UInt64)),
    -- total duration, for means
    duration_sum_ms        SimpleAggregateFunction(sum, Float64),
    -- the shortest duration of a timed-out call: the edge's timeout, inferred (inf: none)
    timeout_duration_min   SimpleAggregateFunction(min, Float64),
    -- latency histogram (edgewatch/latency.py): bucket -> calls
    latency                SimpleAggregateFunction(sumMap, Map(Int16, UInt64)),
    -- latency histogram of the calls that were no server error, for timeout headroom
    latency_ok             SimpleAggregateFunction(sumMap, Map(Int16, UInt64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(minute)
ORDER BY (minute, source_namespace, source_workload, destination_namespace, destination_service, destination_kind)
TTL minute + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS edge_minute_mv TO edge_minute AS
SELECT minute, source_workload, source_namespace, destination_service, destination_namespace, destination_kind,
    requests,
    errors,
    client_errors,
    timeouts,
    status_codes,
    response_flags,
    duration_sum_ms,
    timeout_duration_min,
    mapFromArrays(arrayMap(i -> latency_parts[i], arrayFilter(i -> i = 1 OR latency_parts[i] != latency_parts[i - 1], arrayEnumerate(latency_parts))), arrayMap(n -> toUInt64(n), arrayPopFront(arrayDifference(arrayPushBack(arrayFilter(i -> i = 1 OR latency_parts[i] != latency_parts[i - 1], arrayEnumerate(latency_parts)), length(latency_parts) + 1))))) AS latency,
    mapFromArrays(arrayMap(i -> latency_ok_parts[i], arrayFilter(i -> i = 1 OR latency_ok_parts[i] != latency_ok_parts[i - 1], arrayEnumerate(latency_ok_parts))), arrayMap(n -> toUInt64(n), arrayPopFront(arrayDifference(arrayPushBack(arrayFilter(i -> i = 1 OR latency_ok_parts[i] != latency_ok_parts[i - 1], arrayEnumerate(latency_ok_parts)), length(latency_ok_parts) + 1))))) AS latency_ok
FROM (
    SELECT toStartOfMinute(timestamp) AS minute, source_workload, source_namespace, destination_service, destination_namespace, destination_kind,
    count() AS requests,
    countIf((code >= 500 OR code = 0)) AS errors,
    countIf(code >= 400 AND code < 500) AS client_errors,
    countIf((has(splitByChar(',', flags), 'UT') OR code = 504)) AS timeouts,
    sumMap(map(code, toUInt64(1))) AS status_codes,
    sumMap(map(flags, toUInt64(1))) AS response_flags,
    sum(duration_ms) AS duration_sum_ms,
    min(if((has(splitByChar(',', flags), 'UT') OR code = 504), duration_ms, inf)) AS timeout_duration_min,
    arraySort(groupArray(toInt16(greatest(-120, least(600, ceil(60 * log10(duration_ms))))))) AS latency_parts,
    arraySort(groupArrayIf(toInt16(greatest(-120, least(600, ceil(60 * log10(duration_ms))))), NOT (code >= 500 OR code = 0))) AS latency_ok_parts
    FROM (SELECT *, response_code AS code, toString(response_flags) AS flags FROM requests WHERE reporter = 'source')
    GROUP BY minute, source_workload, source_namespace, destination_service, destination_namespace, destination_kind
);

-- edge_hour: per hour
CREATE TABLE IF NOT EXISTS edge_hour
(
    hour                   DateTime('UTC'),
    source_workload        LowCardinality(String),
    source_namespace       LowCardinality(String),
    destination_service    LowCardinality(String),
    destination_namespace  LowCardinality(String),
    destination_kind       LowCardinality(String),
    -- the five keys as one string (edgewatch/edge.py's EDGE_KEY): one key groups faster than five
    edge                   LowCardinality(String) MATERIALIZED concat(source_workload, '\x1f', source_namespace, '\x1f', destination_service, '\x1f', destination_namespace, '\x1f', destination_kind),
    -- calls
    requests               SimpleAggregateFunction(sum, UInt64),
    -- server errors: 5xx, or no response (code 0)
    errors                 SimpleAggregateFunction(sum, UInt64),
    -- client errors: 4xx
    client_errors          SimpleAggregateFunction(sum, UInt64),
    -- timeouts: Envoy's flag UT, or code 504
    timeouts               SimpleAggregateFunction(sum, UInt64),
    -- calls per response code
    status_codes           SimpleAggregateFunction(sumMap, Map(UInt16, UInt64)),
    -- calls per response-flags value ('-': none)
    response_flags         SimpleAggregateFunction(sumMap, Map(String, UInt64)),
    -- total duration, for means
    duration_sum_ms        SimpleAggregateFunction(sum, Float64),
    -- the shortest duration of a timed-out call: the edge's timeout, inferred (inf: none)
    timeout_duration_min   SimpleAggregateFunction(min, Float64),
    -- latency histogram (edgewatch/latency.py): bucket -> calls
    latency                SimpleAggregateFunction(sumMap, Map(Int16, UInt64)),
    -- latency histogram of the calls that were no server error, for timeout headroom
    latency_ok             SimpleAggregateFunction(sumMap, Map(Int16, UInt64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, source_namespace, source_workload, destination_namespace, destination_service, destination_kind)
TTL hour + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS edge_hour_mv TO edge_hour AS
SELECT toStartOfHour(minute) AS hour, source_workload, source_namespace, destination_service, destination_namespace, destination_kind,
    sum(requests) AS requests,
    sum(errors) AS errors,
    sum(client_errors) AS client_errors,
    sum(timeouts) AS timeouts,
    sumMap(status_codes) AS status_codes,
    sumMap(response_flags) AS response_flags,
    sum(duration_sum_ms) AS duration_sum_ms,
    min(timeout_duration_min) AS timeout_duration_min,
    sumMap(latency) AS latency,
    sumMap(latency_ok) AS latency_ok
FROM edge_minute
GROUP BY hour, source_workload, source_namespace, destination_service, destination_namespace, destination_kind;

-- edge_10min: per 10 minutes, starting at every minute: the row of `start` covers
-- [start, start + 10 min), so each minute feeds 10 rows and any window of whole minutes is a few
-- rows per edge (an hour: 6). The rows of one minute-of-ten lie together (the ORDER BY starts with
-- toMinute(start) % 10); small granules: an hour of 300 edges is 1,800 rows
CREATE TABLE IF NOT EXISTS edge_10min
(
    start                  DateTime('UTC'),
    source_workload        LowCardinality(String),
    source_namespace       LowCardinality(String),
    destination_service    LowCardinality(String),
    destination_namespace  LowCardinality(String),
    destination_kind       LowCardinality(String),
    -- the five keys as one string (edgewatch/edge.py's EDGE_KEY): one key groups faster than five
    edge                   LowCardinality(String) MATERIALIZED concat(source_workload, '\x1f', source_namespace, '\x1f', destination_service, '\x1f', destination_namespace, '\x1f', destination_kind),
    -- calls
    requests               SimpleAggregateFunction(sum, UInt64),
    -- server errors: 5xx, or no response (code 0)
    errors                 SimpleAggregateFunction(sum, UInt64),
    -- client errors: 4xx
    client_errors          SimpleAggregateFunction(sum, UInt64),
    -- timeouts: Envoy's flag UT, or code 504
    timeouts               SimpleAggregateFunction(sum, UInt64),
    -- calls per response code
    status_codes           SimpleAggregateFunction(sumMap, Map(UInt16, UInt64)),
    -- calls per response-flags value ('-': none)
    response_flags         SimpleAggregateFunction(sumMap, Map(String, UInt64)),
    -- total duration, for means
    duration_sum_ms        SimpleAggregateFunction(sum, Float64),
    -- the shortest duration of a timed-out call: the edge's timeout, inferred (inf: none)
    timeout_duration_min   SimpleAggregateFunction(min, Float64),
    -- latency histogram (edgewatch/latency.py): bucket -> calls
    latency                SimpleAggregateFunction(sumMap, Map(Int16, UInt64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(start)
ORDER BY (toMinute(start) % 10, start, source_namespace, source_workload, destination_namespace, destination_service, destination_kind)
TTL start + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS edge_10min_mv TO edge_10min AS
SELECT minute - toIntervalMinute(arrayJoin(range(10))) AS start, source_workload, source_namespace, destination_service, destination_namespace, destination_kind, requests, errors, client_errors, timeouts, status_codes, response_flags, duration_sum_ms, timeout_duration_min, latency
FROM edge_minute;
