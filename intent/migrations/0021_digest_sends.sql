-- Which (site, day) digests the schedule has sent, so a server restarted after a site's
-- digest_time still sends that day's digest once, and never twice.
CREATE TABLE IF NOT EXISTS digest_sends ${ON_CLUSTER}
(
    site LowCardinality(String),
    day Date,
    sent_at DateTime64(3, 'UTC')
)
ENGINE = ${REPLICATED}ReplacingMergeTree(sent_at)
ORDER BY (site, day)
TTL day + INTERVAL 30 DAY;
