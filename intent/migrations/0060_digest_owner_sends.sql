-- Which owners got their own digest for a (site, day) (docs/accounts.md, "Who is told"): a
-- repeated send (a restart, a retry after a failure) skips them. `owner` is the owner's address,
-- your own staff's, as in `accounts`.
CREATE TABLE IF NOT EXISTS digest_owner_sends ${ON_CLUSTER}
(
    site LowCardinality(String),
    day Date,
    owner String,
    sent_at DateTime64(3, 'UTC')
)
ENGINE = ${REPLICATED}ReplacingMergeTree(sent_at)
ORDER BY (site, day, owner)
TTL day + INTERVAL 30 DAY;
