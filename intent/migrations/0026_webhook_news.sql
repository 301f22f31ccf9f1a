-- When each piece of webhook news (a company's transition on a day) was first noticed, and when
-- each webhook was first configured: a webhook added later gets only news noticed after it
-- (docs/webhooks.md). Rows are inserted once (the writer checks first); read with min().
CREATE TABLE IF NOT EXISTS webhook_news ${ON_CLUSTER}
(
    site LowCardinality(String),
    day Date,
    company_key String,
    event LowCardinality(String),
    noticed_at DateTime64(3, 'UTC')
)
ENGINE = ${REPLICATED}MergeTree
ORDER BY (site, day, company_key, event)
TTL day + INTERVAL 30 DAY;

CREATE TABLE IF NOT EXISTS webhook_targets ${ON_CLUSTER}
(
    site LowCardinality(String),
    url String,
    added_at DateTime64(3, 'UTC')
)
ENGINE = ${REPLICATED}MergeTree
ORDER BY (site, url);
