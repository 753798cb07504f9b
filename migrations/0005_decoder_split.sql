-- 0005: a cheaper decoder for the common record, same rules.
--
-- The decoder of 0001 put every line through arrayJoin (for the few messages that are JSON
-- arrays) and chose, for every record, between the record and a Fluent Bit `log` field
-- parsed again (a copy of every extracted field). Timed once on 300,000 of bench/ingest.py's
-- records, those two took about half of its time; bench/ingest.py's "engine only" line shows
-- the effect on storing.
--
-- Now a first step splits lines into records in `ingest_records`: a line that is no JSON
-- array and holds no "log" key (nearly all) passes as it is; other lines go through the
-- array split and the `log` unwrapping, which keeps what the shipper added around the record
-- in `wrapper`. The decoder then parses each record once. The rules, the reasons and the
-- outputs are those of 0001, table-tested in tests/ingest/test_decode.py.
--
-- Run migrations while no ingester runs (edgewatch migrate, or the start of edgewatch
-- ingest/up): between the DROP of the old view and the CREATE of the split views an insert
-- would not be decoded.

CREATE TABLE IF NOT EXISTS ingest_records
(
    topic     LowCardinality(String),
    partition UInt32,
    offset    UInt64,
    record    String,  -- one JSON record (or what could not be split into any)
    wrapper   String   -- the object around a record taken from its `log` field, or ''
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS ingest_decode_records_mv TO ingest_decoded AS
WITH
    'Tuple(timestamp Nullable(String), start_time Nullable(String),
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
           kubernetes Nullable(String))' AS record_type,
    JSONExtract(record, record_type) AS r,
    -- what a log shipper added around a `log` record (nothing for other records)
    JSONExtract(wrapper, 'Tuple(source_workload Nullable(String), source_namespace Nullable(String),
                               destination_workload Nullable(String), kubernetes Nullable(String))') AS w,
    if(wrapper = '', r.source_workload, w.source_workload) AS outer_source_workload,
    if(wrapper = '', r.source_namespace, w.source_namespace) AS outer_source_namespace,
    if(wrapper = '', r.destination_workload, w.destination_workload) AS outer_destination_workload,
    JSONExtract(ifNull(if(wrapper = '', r.kubernetes, w.kubernetes), '{}'),
                'Tuple(namespace_name Nullable(String), labels Map(String, String))') AS k,

    (r.upstream_cluster IS NOT NULL OR r.start_time IS NOT NULL) AS is_envoy,
    (NOT is_envoy AND r.destination_service IS NOT NULL) AS is_native,

    -- Envoy: the pod that wrote the line, as the log shipper describes it.
    coalesce(nullIf(k.labels['service.istio.io/canonical-name'], ''), nullIf(k.labels['app'], '')) AS pod_workload,
    nullIf(k.namespace_name, '') AS pod_namespace,
    -- Envoy: outbound|9080|v2|reviews.default.svc.cluster.local -> direction and host.
    splitByChar('|', ifNull(r.upstream_cluster, '')) AS cluster,
    (cluster[1] = 'inbound' OR r.upstream_cluster = 'InboundPassthroughCluster') AS inbound,
    (r.upstream_cluster IN ('PassthroughCluster', 'BlackHoleCluster')
        OR ifNull(r.upstream_cluster, '-') = '-') AS unknown_upstream,
    splitByChar(':', ifNull(r.authority, ''))[1] AS authority_host,
    if(cluster[1] = 'outbound' AND length(cluster) >= 4, cluster[4], authority_host) AS upstream_host,
    -- name.namespace.svc[.cluster.local] is a Service in the mesh; a bare name too.
    match(upstream_host, '^[^.]+\\.[^.]+\\.svc(\\.|$)') AS host_is_service,
    splitByChar('.', upstream_host) AS host_labels,
    multiIf(inbound, 'service', unknown_upstream, 'unknown',
            host_is_service OR (upstream_host != '' AND position(upstream_host, '.') = 0), 'service',
            'external') AS envoy_kind,

    -- Fields of the record, whichever format it came in.
    if(is_envoy, r.start_time, r.timestamp) AS ts_text,
    multiIf(ts_text IS NULL, NULL,
            match(ts_text, '^[0-9]+(\\.[0-9]+)?$'),
            fromUnixTimestamp64Milli(toInt64(toFloat64OrZero(ts_text)), 'UTC'),
            parseDateTime64BestEffortOrNull(ts_text, 3, 'UTC')) AS ts,
    if(is_envoy, r.duration, r.duration_ms) AS duration_text,
    toFloat64OrNull(duration_text) AS duration,
    toUInt16OrNull(r.response_code) AS code,
    multiIf(is_native, ifNull(r.destination_kind, 'service'), envoy_kind) AS kind,
    multiIf(is_native, ifNull(r.reporter, 'source'), inbound, 'destination', 'source') AS reporter_value,
    toUInt8OrNull(r.grpc_status) AS grpc

SELECT
    topic,
    partition,
    offset,
    if(error = '', '', if(wrapper = '', record, wrapper)) AS doc,  -- only dead letters need the record as received
    multiIf(
        NOT (is_envoy OR is_native) AND NOT isValidJSON(record), 'invalid JSON',
        NOT (is_envoy OR is_native) AND JSONType(record) != 'Object', 'not a JSON object',
        NOT (is_envoy OR is_native),
            'unknown record format: expected destination_service (Edgewatch record) '
            || 'or start_time/upstream_cluster (Envoy access log)',
        ts_text IS NULL, 'missing required field: ' || if(is_envoy, 'start_time', 'timestamp'),
        ts IS NULL OR ts < toDateTime64('2000-01-01', 3, 'UTC'),
            if(is_envoy, 'start_time', 'timestamp')
            || ': expected RFC 3339 or epoch milliseconds, got ' || left(ts_text, 64),
        r.response_code IS NULL, 'missing required field: response_code',
        code IS NULL OR code > 999, 'response_code: expected an integer 0-999, got ' || left(r.response_code, 64),
        duration_text IS NULL, 'missing required field: ' || if(is_envoy, 'duration', 'duration_ms'),
        duration IS NULL OR NOT isFinite(duration) OR duration < 0,
            if(is_envoy, 'duration', 'duration_ms') || ': expected a number >= 0, got ' || left(duration_text, 64),
        is_native AND r.destination_service = '', 'destination_service: must not be empty',
        kind NOT IN ('service', 'external', 'unknown'),
            'destination_kind: expected service, external or unknown, got ' || left(kind, 64),
        reporter_value NOT IN ('source', 'destination'),
            'reporter: expected source or destination, got ' || left(reporter_value, 64),
        r.grpc_status IS NOT NULL AND grpc IS NULL, 'grpc_status: expected an integer 0-255, got ' || left(r.grpc_status, 64),
        '') AS error,
    ts AS timestamp,
    multiIf(
        is_native, ifNull(r.source_workload, 'unknown'),
        inbound, ifNull(outer_source_workload, 'unknown'),
        coalesce(outer_source_workload, pod_workload, 'unknown')) AS source_workload,
    multiIf(
        is_native, ifNull(r.source_namespace, ''),
        inbound, ifNull(outer_source_namespace, ''),
        coalesce(outer_source_namespace, pod_namespace, '')) AS source_namespace,
    multiIf(
        is_native, ifNull(r.destination_service, ''),
        inbound, coalesce(pod_workload, outer_destination_workload,
                          if(host_is_service, host_labels[1], nullIf(upstream_host, '')), 'unknown'),
        unknown_upstream, coalesce(nullIf(upstream_host, ''), r.upstream_cluster, 'unknown'),
        host_is_service, host_labels[1],
        upstream_host) AS destination_service,
    multiIf(
        is_native, ifNull(r.destination_namespace, ''),
        inbound, coalesce(pod_namespace, if(host_is_service, host_labels[2], NULL), ''),
        host_is_service, host_labels[2],
        '') AS destination_namespace,
    multiIf(
        is_native, ifNull(r.destination_workload, ''),
        inbound, coalesce(pod_workload, outer_destination_workload, ''),
        '') AS destination_workload,
    kind AS destination_kind,
    reporter_value AS reporter,
    coalesce(r.request_protocol, r.protocol, '') AS request_protocol,
    ifNull(r.method, '') AS method,
    ifNull(r.path, '') AS path,
    code AS response_code,
    grpc AS grpc_status,
    if(ifNull(r.response_flags, '') = '', '-', r.response_flags) AS response_flags,
    duration AS duration_ms,
    ifNull(r.request_id, '') AS request_id,
    ifNull(r.trace_id, '') AS trace_id,
    toUInt64OrZero(ifNull(r.bytes_sent, '')) AS bytes_sent,
    toUInt64OrZero(ifNull(r.bytes_received, '')) AS bytes_received
FROM ingest_records;

DROP VIEW IF EXISTS ingest_decode_mv;

-- The common line: one record, as it is. '"log"' may also match a value; such lines merely
-- take the general path below.
CREATE MATERIALIZED VIEW IF NOT EXISTS ingest_split_plain_mv TO ingest_records AS
SELECT topic, partition, offset, line AS record, '' AS wrapper
FROM ingest_lines
WHERE line != '' AND NOT startsWith(line, '[') AND position(line, '"log"') = 0;

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
