-- 0001: raw request records, dead letters, and the in-engine decoder.
--
-- The ingester does not parse JSON in Python: it frames each Kafka message as rows of
-- `ingest_lines` (topic, partition, offset, one line of the message) and inserts a whole
-- batch at once. Materialized views decode those lines inside ClickHouse, at the engine's
-- own parsing speed, and route every line either to `requests` or to `dead_letters` with the
-- reason. docs/records.md documents the formats, and its "Field by field" table is the
-- decoder below; tests/ingest/test_decode.py has a case for every format and malformed record,
-- tests/ingest/test_decode_rules.py one for every cell of that table. The `requests` and
-- `ingest_decoded` columns are edgewatch/record.py's fields (tests/test_record_fields.py).

CREATE TABLE IF NOT EXISTS requests
(
    timestamp             DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    source_workload       LowCardinality(String),
    source_namespace      LowCardinality(String),
    destination_service   LowCardinality(String),
    destination_namespace LowCardinality(String),
    destination_workload  LowCardinality(String),
    destination_kind      LowCardinality(String),  -- service | external | unknown
    reporter              LowCardinality(String),  -- source | destination
    request_protocol      LowCardinality(String),
    method                LowCardinality(String),
    path                  String CODEC(ZSTD),
    response_code         UInt16,                   -- 0: no response
    grpc_status           Nullable(UInt8),
    response_flags        LowCardinality(String),  -- Envoy short codes, '-' for none
    duration_ms           Float64,
    request_id            String CODEC(ZSTD),
    trace_id              String CODEC(ZSTD),
    bytes_sent            UInt64,
    bytes_received        UInt64,
    kafka_partition       UInt32,
    kafka_offset          UInt64 CODEC(Delta, ZSTD),
    -- Not a record field: the ten minutes `timestamp` falls in, which leads the sort key.
    time_bucket           DateTime('UTC') MATERIALIZED toStartOfTenMinutes(toDateTime(timestamp))
)
ENGINE = MergeTree
PARTITION BY toDate(timestamp)
-- Time first: every reader of `requests` reads a time range (the not yet settled tail of a
-- window, settling, the drill-down, raw windows), and with ten-minute blocks first it reads
-- only the blocks of its range (edgewatch/calls.py's Range names the block column, which the
-- index uses directly). Within a block, the callee's reports lie apart from the caller's, and
-- an edge's rows together.
ORDER BY (time_bucket, reporter, destination_service, source_workload, timestamp)
TTL toDateTime(timestamp) + toIntervalDay(7)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS dead_letters
(
    received_at     DateTime64(3, 'UTC') DEFAULT now64(3),
    topic           LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    reason          String,
    payload         String CODEC(ZSTD)      -- the record as received, cut at 64 KiB
)
ENGINE = MergeTree
PARTITION BY toDate(received_at)
ORDER BY (received_at, topic, kafka_partition, kafka_offset)
TTL toDateTime(received_at) + toIntervalDay(30)
SETTINGS non_replicated_deduplication_window = 10000;

-- What the ingester inserts: one row per line of a message, or per message when the
-- message is a JSON array. Null engine: rows only feed the views below.
CREATE TABLE IF NOT EXISTS ingest_lines
(
    topic     LowCardinality(String),
    partition UInt32,
    offset    UInt64,
    line      String
)
ENGINE = Null;

-- The offset range of every stored batch, one row per insert. After a restart or a
-- rebalance the ingester rebuilds the batch that starts at the committed offset exactly as it
-- was, so its insert_deduplication_token matches and nothing is stored twice (ingest/batches.py).
CREATE TABLE IF NOT EXISTS ingest_batches
(
    topic        LowCardinality(String),
    partition    UInt32,
    first_offset UInt64,
    last_offset  UInt64,
    stored_at    DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (topic, partition, first_offset)
TTL toDateTime(stored_at) + toIntervalDay(7)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ingest_batches_mv TO ingest_batches AS
SELECT topic, partition, min(offset) AS first_offset, max(offset) AS last_offset, now64(3) AS stored_at
FROM ingest_lines
GROUP BY topic, partition;

-- Every decoded record, good or bad, before routing. Null engine as well.
CREATE TABLE IF NOT EXISTS ingest_decoded
(
    topic                 LowCardinality(String),
    partition             UInt32,
    offset                UInt64,
    doc                   String,
    error                 String,
    timestamp             Nullable(DateTime64(3, 'UTC')),
    source_workload       String,
    source_namespace      String,
    destination_service   String,
    destination_namespace String,
    destination_workload  String,
    destination_kind      String,
    reporter              String,
    request_protocol      String,
    method                String,
    path                  String,
    response_code         Nullable(UInt16),
    grpc_status           Nullable(UInt8),
    response_flags        String,
    duration_ms           Nullable(Float64),
    request_id            String,
    trace_id              String,
    bytes_sent            UInt64,
    bytes_received        UInt64
)
ENGINE = Null;

-- Decoding takes two steps. First every line is split into records (`ingest_records`): a line
-- that is no JSON array and holds no "log" key (nearly all) passes as it is; other lines go
-- through the array split and the Fluent Bit `log` unwrapping, which keeps what the shipper
-- added around the record in `wrapper`. Then the decoder parses each record once. Putting
-- every line through the array split and a second parse of `log` had taken about half of the
-- decoder's time (timed once on 300,000 of bench/ingest.py's records; docs/records.md, "Speed").
CREATE TABLE IF NOT EXISTS ingest_records
(
    topic     LowCardinality(String),
    partition UInt32,
    offset    UInt64,
    record    String,  -- one JSON record (or what could not be split into any)
    wrapper   String   -- the object around a record taken from its `log` field, or ''
)
ENGINE = Null;

-- The decoder: a record in; its fields, or why it is refused, out. It reads as the table of
-- docs/records.md ("Field by field"), in the order of edgewatch/record.py:
--   1. parse the record once, and what a log shipper put around it;
--   2. the facts the rules share: the format, which end of the call an Envoy line reports,
--      the pod that wrote it, the host it names;
--   3. one block per field, where the formats differ written as
--          multiIf(native, <native record>, outbound, <Envoy outbound>, <Envoy inbound>)
--      with the fallback inside each branch;
--   4. why a record is refused: one line per reason of docs/records.md's "Why a record is
--      dead-lettered"; the first that applies wins.
CREATE MATERIALIZED VIEW IF NOT EXISTS ingest_decode_records_mv TO ingest_decoded AS
WITH
    -- 1. Parse. Every key either format may carry, once; numbers arrive as their text.
    JSONExtract(record, 'Tuple(timestamp Nullable(String), start_time Nullable(String),
           source_workload Nullable(String), source_namespace Nullable(String),
           destination_service Nullable(String), destination_namespace Nullable(String),
           destination_workload Nullable(String), destination_kind Nullable(String),
           reporter Nullable(String), request_protocol Nullable(String), protocol Nullable(String),
           method Nullable(String), path Nullable(String),
           response_code Nullable(String), grpc_status Nullable(String),
           response_flags Nullable(String), duration_ms Nullable(String), duration Nullable(String),
           request_id Nullable(String), trace_id Nullable(String),
           bytes_sent Nullable(String), bytes_received Nullable(String),
           upstream_cluster Nullable(String), authority Nullable(String),
           kubernetes Nullable(String))') AS r,
    -- The keys a shipper sets beside a record: the wrapper's when the record came from its `log`
    -- string (Fluent Bit), else the record's own.
    JSONExtract(wrapper, 'Tuple(source_workload Nullable(String), source_namespace Nullable(String),
                               destination_workload Nullable(String), kubernetes Nullable(String))') AS w,
    if(wrapper = '', r.source_workload, w.source_workload)                      AS shipper_source_workload,
    if(wrapper = '', r.source_namespace, w.source_namespace)                    AS shipper_source_namespace,
    if(wrapper = '', r.destination_workload, w.destination_workload)            AS shipper_destination_workload,
    JSONExtract(ifNull(if(wrapper = '', r.kubernetes, w.kubernetes), '{}'),
                'Tuple(namespace_name Nullable(String), pod_name Nullable(String), labels Map(String, String))') AS pod,

    -- 2. Shared facts.
    -- The format: Envoy access-log keys win, then Edgewatch's own record; neither is refused.
    (r.upstream_cluster IS NOT NULL OR r.start_time IS NOT NULL)                AS envoy,
    (NOT envoy AND r.destination_service IS NOT NULL)                           AS native,
    -- outbound|9080|v2|reviews.default.svc.cluster.local, inbound|8080||, or a special cluster.
    splitByChar('|', ifNull(r.upstream_cluster, ''))                            AS cluster,
    (cluster[1] = 'inbound' OR ifNull(r.upstream_cluster, '') = 'InboundPassthroughCluster') AS inbound,  -- the callee's report
    (envoy AND NOT inbound)                                                     AS outbound,  -- the caller's report
    (r.upstream_cluster IN ('PassthroughCluster', 'BlackHoleCluster')
        OR ifNull(r.upstream_cluster, '-') = '-')                               AS no_mesh_destination,
    -- The pod that wrote an Envoy line, as the shipper's `kubernetes` object describes it. Its
    -- workload is its Deployment, as Istio and Kiali name it: the pod's name up to its ReplicaSet's
    -- `-<pod-template-hash>-` (staff-service-risky-6d7b9c7f4-x2x9k -> staff-service-risky), which
    -- tells two versions behind one `app` label apart; else the canonical name, else `app`.
    position(ifNull(pod.pod_name, ''), '-' || pod.labels['pod-template-hash'] || '-')  AS hash_at,
    if(pod.labels['pod-template-hash'] != '' AND hash_at > 1,
       substring(assumeNotNull(pod.pod_name), 1, hash_at - 1), NULL)              AS pod_deployment,
    coalesce(pod_deployment, nullIf(pod.labels['service.istio.io/canonical-name'], ''),
             nullIf(pod.labels['app'], ''))                                     AS pod_workload,
    nullIf(pod.namespace_name, '')                                              AS pod_namespace,
    -- The host an Envoy line names: an outbound cluster's HOST, else `authority` without its port.
    if(cluster[1] = 'outbound' AND length(cluster) >= 4, cluster[4],
       splitByChar(':', ifNull(r.authority, ''))[1])                            AS host,
    -- NAME.NAMESPACE.svc[.cluster.local] names a Service of the mesh, and so does a bare NAME.
    match(host, '^[^.]+\\.[^.]+\\.svc(\\.|$)')                                  AS host_is_qualified,
    (host_is_qualified OR (host != '' AND position(host, '.') = 0))             AS host_is_service,
    splitByChar('.', host)                                                      AS host_labels,
    if(host_is_qualified, host_labels[1], host)                                 AS host_service,    -- NAME, or the host
    if(host_is_qualified, host_labels[2], '')                                   AS host_namespace,  -- NAMESPACE, or ''

    -- 3. The fields.
    -- timestamp: `timestamp` | `start_time` | `start_time`: RFC 3339, or epoch milliseconds.
    if(envoy, r.start_time, r.timestamp)                                        AS timestamp_text,
    multiIf(timestamp_text IS NULL, NULL,
            match(timestamp_text, '^[0-9]+(\\.[0-9]+)?$'),
            fromUnixTimestamp64Milli(toInt64(toFloat64OrZero(timestamp_text)), 'UTC'),
            parseDateTime64BestEffortOrNull(timestamp_text, 3, 'UTC'))          AS timestamp,

    multiIf(native,   ifNull(r.source_workload, 'unknown'),
            outbound, coalesce(shipper_source_workload, pod_workload, 'unknown'),
                      ifNull(shipper_source_workload, 'unknown'))               AS source_workload,

    multiIf(native,   ifNull(r.source_namespace, ''),
            outbound, coalesce(shipper_source_namespace, pod_namespace, ''),
                      ifNull(shipper_source_namespace, ''))                     AS source_namespace,

    -- An inbound line's Service is the one its Host header names, when that is a Service of the
    -- mesh (bare `fleetman-staff-service:8080` or `NAME.NAMESPACE.svc...`); a public host
    -- (`shop.example.com`) names none, and the workload that served the call stands in for it.
    multiIf(native,   ifNull(r.destination_service, ''),
            outbound, if(no_mesh_destination, coalesce(nullIf(host, ''), r.upstream_cluster, 'unknown'), host_service),
                      coalesce(if(host_is_service, host_service, NULL), pod_workload, shipper_destination_workload,
                               'unknown'))                                      AS destination_service,

    multiIf(native,   ifNull(r.destination_namespace, ''),
            outbound, host_namespace,
                      coalesce(pod_namespace, nullIf(host_namespace, ''), ''))  AS destination_namespace,

    multiIf(native,   ifNull(r.destination_workload, ''),
            outbound, '',
                      coalesce(pod_workload, shipper_destination_workload, '')) AS destination_workload,

    multiIf(native,   ifNull(r.destination_kind, 'service'),
            outbound, multiIf(no_mesh_destination, 'unknown', host_is_service, 'service', 'external'),
                      'service')                                                AS destination_kind,

    multiIf(native,   ifNull(r.reporter, 'source'),
            outbound, 'source',
                      'destination')                                            AS reporter,

    -- The same in every format.
    coalesce(r.request_protocol, r.protocol, '')                                AS request_protocol,
    ifNull(r.method, '')                                                        AS method,
    ifNull(r.path, '')                                                          AS path,
    toUInt16OrNull(r.response_code)                                             AS response_code,
    toUInt8OrNull(r.grpc_status)                                                AS grpc_status,
    if(ifNull(r.response_flags, '') = '', '-', r.response_flags)                AS response_flags,
    -- duration_ms: `duration_ms` | `duration` | `duration`.
    if(envoy, r.duration, r.duration_ms)                                        AS duration_text,
    toFloat64OrNull(duration_text)                                              AS duration_ms,
    ifNull(r.request_id, '')                                                    AS request_id,
    ifNull(r.trace_id, '')                                                      AS trace_id,
    toUInt64OrZero(ifNull(r.bytes_sent, ''))                                    AS bytes_sent,
    toUInt64OrZero(ifNull(r.bytes_received, ''))                                AS bytes_received,

    -- 4. Why a record is refused ('' when it is not).
    if(envoy, 'start_time', 'timestamp')                                        AS timestamp_key,
    if(envoy, 'duration', 'duration_ms')                                        AS duration_key,
    multiIf(
        NOT (envoy OR native) AND NOT isValidJSON(record), 'invalid JSON',
        NOT (envoy OR native) AND JSONType(record) != 'Object', 'not a JSON object',
        NOT (envoy OR native),
            'unknown record format: expected destination_service (Edgewatch record) '
            || 'or start_time/upstream_cluster (Envoy access log)',
        timestamp_text IS NULL, 'missing required field: ' || timestamp_key,
        -- From 2100 on, the tables' DateTime keys and TTLs (toDateTime, 32 bits) wrap around
        -- to the past, and the row would vanish at once (tests/fuzz/test_bad_input.py).
        timestamp IS NULL OR timestamp < toDateTime64('2000-01-01', 3, 'UTC')
            OR timestamp >= toDateTime64('2100-01-01', 3, 'UTC'),
            timestamp_key || ': expected RFC 3339 or epoch milliseconds, got ' || left(timestamp_text, 64),
        r.response_code IS NULL, 'missing required field: response_code',
        response_code IS NULL OR response_code > 999,
            'response_code: expected an integer 0-999, got ' || left(r.response_code, 64),
        duration_text IS NULL, 'missing required field: ' || duration_key,
        duration_ms IS NULL OR NOT isFinite(duration_ms) OR duration_ms < 0,
            duration_key || ': expected a number >= 0, got ' || left(duration_text, 64),
        native AND r.destination_service = '', 'destination_service: must not be empty',
        destination_kind NOT IN ('service', 'external', 'unknown'),
            'destination_kind: expected service, external or unknown, got ' || left(destination_kind, 64),
        reporter NOT IN ('source', 'destination'),
            'reporter: expected source or destination, got ' || left(reporter, 64),
        r.grpc_status IS NOT NULL AND grpc_status IS NULL,
            'grpc_status: expected an integer 0-255, got ' || left(r.grpc_status, 64),
        '')                                                                     AS error
SELECT
    topic, partition, offset,
    if(error = '', '', if(wrapper = '', record, wrapper)) AS doc,  -- only dead letters need the record as received
    error,
    timestamp, source_workload, source_namespace,
    destination_service, destination_namespace, destination_workload, destination_kind,
    reporter, request_protocol, method, path,
    response_code, grpc_status, response_flags, duration_ms,
    request_id, trace_id, bytes_sent, bytes_received
FROM ingest_records;

-- The common line: one record, as it is. '"log"' may also match a value; such lines merely
-- take the general path below. A blank line (spaces only) is no record: dropped, as an empty
-- one is; the trim only runs for a line that does not start with '{' (short-circuit: 1M lines
-- of 1 KB took 0.062-0.069 s with it, 0.061-0.066 s without; a trim of every line, 0.17 s).
CREATE MATERIALIZED VIEW IF NOT EXISTS ingest_split_plain_mv TO ingest_records AS
SELECT topic, partition, offset, line AS record, '' AS wrapper
FROM ingest_lines
WHERE (startsWith(line, '{') OR trimBoth(line) != '') AND NOT startsWith(line, '[') AND position(line, '"log"') = 0;

-- Every other line: a JSON array gives its elements (an invalid one stays whole, to be dead
-- lettered); a record whose `log` field holds a JSON object is replaced by that object, and
-- keeps the object around it as its wrapper.
CREATE MATERIALIZED VIEW IF NOT EXISTS ingest_split_general_mv TO ingest_records AS
WITH
    arrayJoin(if(startsWith(line, '[') AND isValidJSON(line), JSONExtractArrayRaw(line), [line])) AS element,
    ifNull(JSONExtract(element, 'log', 'Nullable(String)'), '') AS log,
    startsWith(log, '{') AND isValidJSON(log) AS wrapped
SELECT topic, partition, offset, if(wrapped, log, element) AS record, if(wrapped, element, '') AS wrapper
FROM ingest_lines
WHERE line != '' AND (startsWith(line, '[') OR position(line, '"log"') > 0);

CREATE MATERIALIZED VIEW IF NOT EXISTS ingest_requests_mv TO requests AS
SELECT
    assumeNotNull(timestamp) AS timestamp,
    source_workload, source_namespace,
    destination_service, destination_namespace, destination_workload, destination_kind,
    reporter, request_protocol, method, path,
    assumeNotNull(response_code) AS response_code,
    grpc_status, response_flags,
    assumeNotNull(duration_ms) AS duration_ms,
    request_id, trace_id, bytes_sent, bytes_received,
    partition AS kafka_partition,
    offset AS kafka_offset
FROM ingest_decoded
WHERE error = '';

CREATE MATERIALIZED VIEW IF NOT EXISTS ingest_dead_letters_mv TO dead_letters AS
SELECT
    now64(3) AS received_at,
    topic,
    partition AS kafka_partition,
    offset AS kafka_offset,
    error AS reason,
    left(doc, 65536) AS payload
FROM ingest_decoded
WHERE error != '';
