-- Claims (intent.alerts.claims): a log of reps claiming and releasing companies; a company's
-- state is its latest entry. `hot_since` is the became_hot the claim answered (epoch: none) and
-- `response_ms` the claim's response time (-1: not the first claim after becoming hot); `owner`
-- is the account owner the became_hot alert named, for each owner's median response time.
CREATE TABLE IF NOT EXISTS claims ${ON_CLUSTER}
(
    site LowCardinality(String),
    company_key String,
    at DateTime64(3, 'UTC'),
    action LowCardinality(String),
    who String,
    note String,
    via LowCardinality(String),
    owner String,
    hot_since DateTime64(3, 'UTC'),
    response_ms Int64
)
ENGINE = ${REPLICATED}MergeTree
ORDER BY (site, company_key, at)
TTL toDateTime(at) + INTERVAL ${RETENTION_DAYS} DAY;
