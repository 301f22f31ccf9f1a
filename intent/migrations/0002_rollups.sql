-- Daily activity per (site, day, company, visitor, page or event): what scoring and digests
-- read, so they never scan raw events. Visitor is kept so identify can attribute earlier visits
-- and so a visitor can be forgotten.
CREATE TABLE IF NOT EXISTS daily_activity ${ON_CLUSTER}
(
    site LowCardinality(String),
    day Date,
    company_key LowCardinality(String),
    visitor_id String,
    kind LowCardinality(String),
    key String,
    hits SimpleAggregateFunction(sum, UInt64),
    engaged_ms SimpleAggregateFunction(sum, UInt64),
    max_scroll SimpleAggregateFunction(max, UInt8),
    first_ts SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_ts SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ${REPLICATED}AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, company_key, visitor_id, kind, key)
TTL day + INTERVAL ${RETENTION_DAYS} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS daily_activity_mv ${ON_CLUSTER} TO daily_activity AS
SELECT
    site,
    toDate(ts) AS day,
    company_key,
    visitor_id,
    if(type = 'event', 'event', 'page') AS kind,
    if(type = 'event', toString(name), path) AS key,
    toUInt64(countIf(type != 'engagement')) AS hits,
    toUInt64(sum(engaged_ms)) AS engaged_ms,
    max(scroll) AS max_scroll,
    min(ts) AS first_ts,
    max(ts) AS last_ts
FROM events
WHERE type IN ('pageview', 'engagement', 'event')
GROUP BY site, day, company_key, visitor_id, kind, key;

-- What we know of each company per day (name, domain, where it was seen from).
CREATE TABLE IF NOT EXISTS daily_companies ${ON_CLUSTER}
(
    site LowCardinality(String),
    day Date,
    company_key LowCardinality(String),
    company_domain SimpleAggregateFunction(anyLast, LowCardinality(String)),
    company_name SimpleAggregateFunction(anyLast, LowCardinality(String)),
    company_source SimpleAggregateFunction(anyLast, LowCardinality(String)),
    confidence SimpleAggregateFunction(max, Float32),
    country SimpleAggregateFunction(anyLast, LowCardinality(String)),
    traffic_class SimpleAggregateFunction(anyLast, LowCardinality(String)),
    events SimpleAggregateFunction(sum, UInt64),
    first_ts SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_ts SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ${REPLICATED}AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, company_key)
TTL day + INTERVAL ${RETENTION_DAYS} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS daily_companies_mv ${ON_CLUSTER} TO daily_companies AS
SELECT
    site,
    toDate(ts) AS day,
    company_key,
    anyLast(company_domain) AS company_domain,
    anyLast(company_name) AS company_name,
    anyLast(company_source) AS company_source,
    max(confidence) AS confidence,
    anyLast(country) AS country,
    anyLast(traffic_class) AS traffic_class,
    toUInt64(count()) AS events,
    min(ts) AS first_ts,
    max(ts) AS last_ts
FROM events
WHERE company_key != ''
GROUP BY site, day, company_key;

-- visitor -> company domain learned from `identify` (domain only, never the address).
CREATE TABLE IF NOT EXISTS identities ${ON_CLUSTER}
(
    site LowCardinality(String),
    visitor_id String,
    company_domain LowCardinality(String),
    ts SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ${REPLICATED}AggregatingMergeTree
ORDER BY (site, visitor_id, company_domain)
TTL toDateTime(ts) + INTERVAL ${RETENTION_DAYS} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS identities_mv ${ON_CLUSTER} TO identities AS
SELECT site, visitor_id, company_domain, max(ts) AS ts
FROM events
WHERE type = 'identify' AND company_domain != '' AND visitor_id != ''
GROUP BY site, visitor_id, company_domain;
