-- The alerts outbox (intent.alerts.outbox): one row per piece of news about a company (became
-- hot on a day, a custom event, an escalation), written before anything is sent, so a restart
-- neither loses nor repeats it. `id` is derived from (site, company, cause): whichever scoring
-- run notices the news first writes it, the other finds it. A newer version per send attempt
-- (ReplacingMergeTree on updated_at, the real time; read with FINAL). `created_at`,
-- `not_before` and `next_attempt_at` are on the alert clock (quiet hours, repeat windows).
-- Every became_hot is kept, even when the site sends no alerts (status 'off'): it is when the
-- company became hot, which claims' response times and escalations are measured from.
CREATE TABLE IF NOT EXISTS alerts ${ON_CLUSTER}
(
    id String,
    site LowCardinality(String),
    company_key String,
    kind LowCardinality(String),
    cause String,
    status LowCardinality(String),
    reason String,
    body String CODEC(ZSTD(1)),
    email_status LowCardinality(String),
    slack_status LowCardinality(String),
    attempts UInt16,
    not_before DateTime64(3, 'UTC'),
    next_attempt_at DateTime64(3, 'UTC'),
    created_at DateTime64(3, 'UTC'),
    sent_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ${REPLICATED}ReplacingMergeTree(updated_at)
ORDER BY (site, company_key, id)
TTL toDateTime(created_at) + INTERVAL ${RETENTION_DAYS} DAY;
