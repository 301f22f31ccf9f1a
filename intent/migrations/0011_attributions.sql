-- Companies found for a visit after it was stored (reverse DNS answers that arrive later, in the
-- background): scoring counts that visitor's activity of that day for the company, as it counts
-- an identified visitor's earlier visits (identities). `from_key` is the company the visit was
-- stored with ('' for none, else the AS owner's, a weaker source the answer replaces).
-- Neither the address nor its host name is stored: only the registrable domain.
CREATE TABLE IF NOT EXISTS attributions ${ON_CLUSTER}
(
    site LowCardinality(String),
    day Date,
    visitor_id String,
    from_key LowCardinality(String),
    company_key LowCardinality(String),
    company_domain LowCardinality(String),
    company_name LowCardinality(String),
    company_source LowCardinality(String),
    confidence Float32,
    ts DateTime64(3, 'UTC')
)
ENGINE = ${REPLICATED}ReplacingMergeTree(ts)
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, visitor_id, from_key)
TTL day + INTERVAL ${RETENTION_DAYS} DAY;
