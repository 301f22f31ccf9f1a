-- Pages read by AI agents browsing on a person's behalf (traffic class ai-agent), per site, day,
-- page and agent: what the digest and dashboard count ("AI agents read /pricing 14 times this
-- week") without scanning raw events. No visitor and no company: such visits are never scored.
CREATE TABLE IF NOT EXISTS daily_ai_agent_reads ${ON_CLUSTER}
(
    site LowCardinality(String),
    day Date,
    path String,
    agent LowCardinality(String),
    reads UInt64
)
ENGINE = ${REPLICATED}SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, path, agent)
TTL day + INTERVAL ${RETENTION_DAYS} DAY
-- a spool segment replayed after a crash is deduplicated here too, not counted twice (0004)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS daily_ai_agent_reads_mv ${ON_CLUSTER} TO daily_ai_agent_reads AS
SELECT site, toDate(ts) AS day, path, browser AS agent, toUInt64(count()) AS reads
FROM events
WHERE traffic_class = 'ai-agent' AND type = 'pageview'
GROUP BY site, day, path, agent;
