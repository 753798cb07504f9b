-- 0004: alerting: the state of every active alert, every transition, the notification
-- queue (which is also the notification log) and silences. docs/rules.md explains them.
--
-- Mutable things are ReplacingMergeTree tables read with FINAL: a change is a new row with a
-- higher version, never an UPDATE. Only the alert evaluator writes alert_state, alert_events
-- and notifications; the HTTP API writes silences.

-- One row per (rule, edge) alert while it is pending or firing; an alert that ends gets a
-- last row with status 'inactive'. Loaded on start, so a restart forgets nothing.
CREATE TABLE IF NOT EXISTS alert_state
(
    alert_id              String,                   -- rule@source_ns/source->dest_ns/dest
    rule                  LowCardinality(String),
    condition             LowCardinality(String),   -- error_rate | latency | timeout_rate | ...
    severity              LowCardinality(String),
    source_workload       LowCardinality(String),
    source_namespace      LowCardinality(String),
    destination_service   LowCardinality(String),
    destination_namespace LowCardinality(String),
    destination_kind      LowCardinality(String),
    status                LowCardinality(String),   -- pending | firing | inactive
    active_since          DateTime64(3, 'UTC'),
    fired_at              Nullable(DateTime64(3, 'UTC')),
    value                 Float64,
    threshold             Float64,
    requests              UInt64,
    root_causes           Array(String),            -- alert ids this alert is a symptom of
    updated_at            DateTime64(3, 'UTC')      -- the evaluation that wrote the row
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY alert_id;

-- Every transition: pending, firing, resolved, and cleared (a pending alert that vanished).
CREATE TABLE IF NOT EXISTS alert_events
(
    at                    DateTime64(3, 'UTC'),
    event                 LowCardinality(String),
    alert_id              String,
    rule                  LowCardinality(String),
    condition             LowCardinality(String),
    severity              LowCardinality(String),
    source_workload       LowCardinality(String),
    source_namespace      LowCardinality(String),
    destination_service   LowCardinality(String),
    destination_namespace LowCardinality(String),
    destination_kind      LowCardinality(String),
    active_since          DateTime64(3, 'UTC'),
    fired_at              Nullable(DateTime64(3, 'UTC')),
    value                 Float64,
    threshold             Float64,
    requests              UInt64,
    root_causes           Array(String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, alert_id)
TTL toDateTime(at) + toIntervalDay(90);

-- Notifications about one root-cause edge (group_key). Queue and log in one table: a row is
-- written 'queued' with a deterministic id, and updated (revision + 1) when an attempt fails,
-- when it is sent, or when it is given up. The newest row of a group tells whether an
-- incident is open, when it was last notified, how many messages it had, and which rules and
-- affected callers its messages named. A bot's sent message keeps where Slack put it
-- (slack_channel, slack_ts), so that updates and the resolution edit the firing message.
CREATE TABLE IF NOT EXISTS notifications
(
    id                    String,                   -- incident_id:kind:sequence
    group_key             String,                   -- the root edge: source_ns/source->dest_ns/dest
    incident_id           String,                   -- group_key@opened (ms)
    kind                  LowCardinality(String),   -- firing | update | reminder | resolved | closed
    sequence              UInt32,                   -- 0 for firing, n for the n-th update or reminder
    opened_at             DateTime64(3, 'UTC'),
    created_at            DateTime64(3, 'UTC'),
    source_workload       LowCardinality(String),
    source_namespace      LowCardinality(String),
    destination_service   LowCardinality(String),
    destination_namespace LowCardinality(String),
    destination_kind      LowCardinality(String),
    rules                 Array(String),            -- every root-cause rule the incident's messages named
    affected              Array(String),            -- every affected caller edge named (the five key columns, \x1f-joined)
    severity              LowCardinality(String),
    payload               String CODEC(ZSTD),       -- the Slack message: {"text", "blocks"[, "edit", "reply"]}
    status                LowCardinality(String),   -- queued | sent | failed | expired | dropped | suppressed
    attempts              UInt32,
    next_attempt_at       DateTime64(3, 'UTC'),
    last_error            String,
    sent_at               Nullable(DateTime64(3, 'UTC')),
    slack_channel         String,                   -- where Slack put the message (bot only; '' if unknown)
    slack_ts              String,
    revision              UInt32
)
ENGINE = ReplacingMergeTree(revision)
ORDER BY id
TTL toDateTime(created_at) + toIntervalDay(90);

-- Silences: matchers (glob patterns, '*' = any) on rule, source workload and destination
-- service. DELETE expires a silence by writing ends_at = now.
CREATE TABLE IF NOT EXISTS silences
(
    id          String,
    rule        String,
    source      String,
    destination String,
    starts_at   DateTime64(3, 'UTC'),
    ends_at     DateTime64(3, 'UTC'),
    comment     String,
    created_by  String,
    created_at  DateTime64(3, 'UTC'),
    updated_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY id;
