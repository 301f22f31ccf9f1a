-- One row per accepted event. Raw IPs and email addresses are never columns here.
CREATE TABLE IF NOT EXISTS events ${ON_CLUSTER}
(
    event_id UUID,
    site LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    type LowCardinality(String),
    name LowCardinality(String),
    url String CODEC(ZSTD(1)),
    host LowCardinality(String),
    path String CODEC(ZSTD(1)),
    title String CODEC(ZSTD(1)),
    referrer String CODEC(ZSTD(1)),
    referrer_host LowCardinality(String),
    utm_source LowCardinality(String),
    utm_medium LowCardinality(String),
    utm_campaign LowCardinality(String),
    utm_term String CODEC(ZSTD(1)),
    utm_content String CODEC(ZSTD(1)),
    props String CODEC(ZSTD(1)),
    visitor_id String CODEC(ZSTD(1)),
    engaged_ms UInt32,
    scroll UInt8,
    country LowCardinality(String),
    region LowCardinality(String),
    city LowCardinality(String),
    asn UInt32,
    as_org LowCardinality(String),
    isp LowCardinality(String),
    organization LowCardinality(String),
    connection_type LowCardinality(String),
    traffic_class LowCardinality(String),
    ip_prefix String,
    company_key LowCardinality(String),
    company_domain LowCardinality(String),
    company_name LowCardinality(String),
    company_source LowCardinality(String),
    confidence Float32,
    browser LowCardinality(String),
    browser_version LowCardinality(String),
    os LowCardinality(String),
    os_version LowCardinality(String),
    device LowCardinality(String)
)
ENGINE = ${REPLICATED}MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (site, toDate(ts), company_key, visitor_id, ts)
TTL toDateTime(ts) + INTERVAL ${RETENTION_DAYS} DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Nothing is filtered silently: every drop is counted per (site, day, reason).
CREATE TABLE IF NOT EXISTS dropped_events ${ON_CLUSTER}
(
    site LowCardinality(String),
    day Date,
    reason LowCardinality(String),
    count UInt64
)
ENGINE = ${REPLICATED}SummingMergeTree
ORDER BY (site, day, reason)
TTL day + INTERVAL ${RETENTION_DAYS} DAY;

-- Daily salt for visitor ids; every replica reads the oldest salt of the day.
CREATE TABLE IF NOT EXISTS salts ${ON_CLUSTER}
(
    day Date,
    salt String,
    created DateTime64(6, 'UTC')
)
ENGINE = ${REPLICATED}MergeTree
ORDER BY (day, created)
TTL day + INTERVAL 2 DAY;
