-- Each company's latest score snapshot row (latest day; for one day the latest scoring run),
-- kept by a materialized view so the API lists companies without sorting every day's rows.
-- `version` orders rows by (day, computed_at). Read with FINAL.
CREATE TABLE IF NOT EXISTS company_latest ${ON_CLUSTER}
(
    site LowCardinality(String),
    company_key String,
    day Date,
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
    computed_at DateTime64(3, 'UTC'),
    version UInt64
)
ENGINE = ${REPLICATED}ReplacingMergeTree(version)
ORDER BY (site, company_key)
TTL day + INTERVAL ${RETENTION_DAYS} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS company_latest_mv ${ON_CLUSTER} TO company_latest AS
SELECT
    site, company_key, day, company_name, company_domain, country, company_source, confidence,
    score, tier, previous_tier, previous_score, transition, reasons, visitors, active_days,
    first_seen, last_seen, top_pages, is_customer, changed_at, computed_at,
    toUInt64(toRelativeDayNum(day)) * 10000000000000 + toUInt64(toUnixTimestamp64Milli(computed_at)) AS version
FROM company_scores;

-- Rows scored before this migration.
INSERT INTO company_latest
SELECT
    site, company_key, day, company_name, company_domain, country, company_source, confidence,
    score, tier, previous_tier, previous_score, transition, reasons, visitors, active_days,
    first_seen, last_seen, top_pages, is_customer, changed_at, computed_at,
    toUInt64(toRelativeDayNum(day)) * 10000000000000 + toUInt64(toUnixTimestamp64Milli(computed_at)) AS version
FROM company_scores;
