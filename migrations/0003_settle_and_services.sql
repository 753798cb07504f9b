-- 0003: settling callee-only reports into the rollups, and which workloads serve which service.
--
-- edge_minute_mv (0002) only takes the caller's report of a call. A call that only the callee
-- reported (traffic from outside the mesh) is added to edge_minute later by
-- edgewatch/settle.py, once its minute is old enough that the caller's report, if there is
-- one, has surely arrived; the views pass it on. edge_settle_log says which time ranges were
-- settled, so that nothing is added twice: a chunk is logged as started (done = 0) before its
-- insert and as done (done = 1) after it; a chunk left started is redone with the same
-- insert_deduplication_token, which the engine drops if it already stored that insert.

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
