-- Daily score snapshot per (site, day, company): the source of tiers, transitions
-- ("became hot", "cooling"), the digest and the API's updated_since. Rescoring a day replaces
-- its rows (ReplacingMergeTree on computed_at; read with FINAL).
CREATE TABLE IF NOT EXISTS company_scores ${ON_CLUSTER}
(
    site LowCardinality(String),
    day Date,
    company_key String,
    company_name String,
    company_domain String,
    country LowCardinality(String),
    company_source LowCardinality(String),
    confidence Float32,
    score Float64,
    tier LowCardinality(String),
    previous_tier LowCardinality(String),
    previous_score Float64,
    transition LowCardinality(String),
    reasons Array(String),
    visitors UInt32,
    active_days UInt16,
    first_seen DateTime64(3, 'UTC'),
    last_seen DateTime64(3, 'UTC'),
    top_pages Array(String),
    is_customer UInt8,
    changed_at DateTime64(3, 'UTC'),
    computed_at DateTime64(3, 'UTC')
)
ENGINE = ${REPLICATED}ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, company_key)
TTL day + INTERVAL ${RETENTION_DAYS} DAY;
