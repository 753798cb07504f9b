-- 0003: coarser edge rollups, and settling callee-only reports into the rollups.
--
-- edge_hour holds the numbers of edge_minute per hour. edge_10min holds them per 10 minutes
-- starting at every minute: the row of `start` covers [start, start + 10 min), so the 10
-- minutes of edge_minute starting at minute m feed the rows of m - 9 ... m. A window of whole
-- minutes of any alignment is then a few rows of one table (an hour: 6 rows per edge), and
-- series steps of 10 minutes read the rows whose start is a multiple of 10 minutes (the
-- ORDER BY puts the rows of each minute-of-ten together). edgewatch/edges.py picks the rows,
-- docs/edges.md gives the costs. Both are fed from edge_minute by views; edge_10min leaves out
-- latency_ok, which only the alert rules read (from edge_minute).
--
-- edge_minute_mv only takes the caller's report of a call. A call that only the callee
-- reported (traffic from outside the mesh) is added to edge_minute later by
-- edgewatch/settle.py, once its minute is old enough that the caller's report, if there is
-- one, has surely arrived; the views pass it on. edge_settle_log says which time ranges were
-- settled, so that nothing is added twice: a chunk is logged as started (done = 0) before its
-- insert and as done (done = 1) after it; a chunk left started is redone with the same
-- insert_deduplication_token, which the engine drops if it already stored that insert.

CREATE TABLE IF NOT EXISTS edge_hour
(
    hour                  DateTime('UTC'),
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
    timeout_duration_min  SimpleAggregateFunction(min, Float64),
    latency               SimpleAggregateFunction(sumMap, Map(Int16, UInt64)),
    latency_ok            SimpleAggregateFunction(sumMap, Map(Int16, UInt64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, source_namespace, source_workload, destination_namespace, destination_service, destination_kind)
TTL hour + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 1024;

-- A database that had data before this migration: its minutes so far, once. This runs
-- before the view exists, at service start, before ingesting.
INSERT INTO edge_hour
SELECT
    toStartOfHour(minute) AS hour,
    source_workload, source_namespace, destination_service, destination_namespace, destination_kind,
    sum(requests), sum(errors), sum(client_errors), sum(timeouts),
    sumMap(status_codes), sumMap(response_flags), sum(duration_sum_ms), min(timeout_duration_min),
    sumMap(latency), sumMap(latency_ok)
FROM edge_minute
WHERE (SELECT count() FROM edge_hour) = 0
GROUP BY hour, source_workload, source_namespace, destination_service, destination_namespace, destination_kind;

CREATE MATERIALIZED VIEW IF NOT EXISTS edge_hour_mv TO edge_hour AS
SELECT
    toStartOfHour(minute) AS hour,
    source_workload, source_namespace, destination_service, destination_namespace, destination_kind,
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

CREATE TABLE IF NOT EXISTS edge_10min
(
    start                 DateTime('UTC'),
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
    timeout_duration_min  SimpleAggregateFunction(min, Float64),
    latency               SimpleAggregateFunction(sumMap, Map(Int16, UInt64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(start)
-- readers select the rows of one minute-of-ten (toMinute(start) % 10), which lie together
ORDER BY (toMinute(start) % 10, start, source_namespace, source_workload, destination_namespace, destination_service,
          destination_kind)
TTL start + toIntervalDay(90)
-- small granules: an hour of one edge is 6 rows, of 300 edges 1,800 rows
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 256;

INSERT INTO edge_10min
SELECT
    minute - toIntervalMinute(arrayJoin(range(10))) AS start,
    source_workload, source_namespace, destination_service, destination_namespace, destination_kind,
    requests, errors, client_errors, timeouts, status_codes, response_flags, duration_sum_ms, timeout_duration_min, latency
FROM edge_minute
WHERE (SELECT count() FROM edge_10min) = 0;

-- Each minute row goes to the 10 rows that cover it; the table adds them up as it merges.
CREATE MATERIALIZED VIEW IF NOT EXISTS edge_10min_mv TO edge_10min AS
SELECT
    minute - toIntervalMinute(arrayJoin(range(10))) AS start,
    source_workload, source_namespace, destination_service, destination_namespace, destination_kind,
    requests, errors, client_errors, timeouts, status_codes, response_flags, duration_sum_ms, timeout_duration_min, latency
FROM edge_minute;

CREATE TABLE IF NOT EXISTS edge_settle_log
(
    chunk_start DateTime('UTC'),
    chunk_end   DateTime('UTC'),
    done        UInt8,
    logged_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (chunk_start, done)
TTL chunk_start + toIntervalDay(90);
