-- 0005: snapshots of the unsettled tail. GENERATED from edgewatch/rollup.py by `python -m edgewatch.rollup --write`:
-- change the spec there, never this file (tests/test_schema.py compares the two, and the engine's schema).
--
-- The calls that only the callee reported reach edge_minute when their minute is settled, 2-3 minutes
-- late; until then a window finds them in `requests` by matching the two reports of each call, which
-- costs as much as the traffic of those minutes (docs/edges.md, "Speed"). One rule evaluation reads a
-- dozen windows: edgewatch/snapshot.py matches the tail once per evaluation and stores the result
-- here, edge_minute's rows under a snapshot id, which every rule of the evaluation reads instead.
-- Kept 30 minutes: whole parts are dropped once all their rows are that old.

CREATE TABLE IF NOT EXISTS edge_tail
(
    snapshot               UInt64,
    taken_at               DateTime('UTC') DEFAULT now(),
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
ENGINE = MergeTree
PARTITION BY toStartOfTenMinutes(taken_at)
ORDER BY (snapshot, minute)
TTL taken_at + toIntervalMinute(30)
SETTINGS ttl_only_drop_parts = 1, merge_with_ttl_timeout = 600;
