-- The webhook queue: one row per message (webhook-id), a newer version per attempt
-- (ReplacingMergeTree on updated_at; read with FINAL). Persisted so a restart loses nothing.
CREATE TABLE IF NOT EXISTS webhook_deliveries ${ON_CLUSTER}
(
    id String,
    site LowCardinality(String),
    url String,
    event LowCardinality(String),
    company_key String,
    payload String CODEC(ZSTD(1)),
    status LowCardinality(String),
    attempts UInt16,
    next_attempt_at DateTime64(3, 'UTC'),
    last_status UInt16,
    last_error String,
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ${REPLICATED}ReplacingMergeTree(updated_at)
ORDER BY id
TTL toDateTime(created_at) + INTERVAL 30 DAY;

-- Every attempt's outcome, for `intent webhooks log --attempts`.
CREATE TABLE IF NOT EXISTS webhook_attempts ${ON_CLUSTER}
(
    id String,
    site LowCardinality(String),
    url String,
    attempt UInt16,
    at DateTime64(3, 'UTC'),
    status_code UInt16,
    error String,
    duration_ms UInt32
)
ENGINE = ${REPLICATED}MergeTree
ORDER BY (site, at, id)
TTL toDateTime(at) + INTERVAL 30 DAY;
