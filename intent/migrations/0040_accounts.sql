-- The site's CRM accounts (`intent accounts import`, PUT /api/v1/sites/{site}/accounts): one row
-- per (site, registrable domain); an import writes a new version of a changed account only
-- (read with FINAL). `name_key` is the normalised name that visits without a domain match on.
CREATE TABLE IF NOT EXISTS accounts ${ON_CLUSTER}
(
    site LowCardinality(String),
    domain String,
    name String,
    name_key String,
    industry String,
    employees Nullable(UInt32),
    revenue Nullable(Float64),
    country LowCardinality(String),
    owner String,
    stage String,
    crm_id String,
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ${REPLICATED}ReplacingMergeTree(updated_at)
ORDER BY (site, domain);
