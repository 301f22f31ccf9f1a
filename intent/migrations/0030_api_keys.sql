-- API keys, stored hashed: sha256 of the whole key (keys are 192-bit random, so a plain hash
-- is enough; no slow KDF needed). `prefix` is the short visible part used to find and name a
-- key. Revoking inserts a newer version of the row (ReplacingMergeTree on updated_at; FINAL).
CREATE TABLE IF NOT EXISTS api_keys ${ON_CLUSTER}
(
    prefix String,
    key_hash String,
    name String,
    sites Array(String),
    scope LowCardinality(String),
    created_at DateTime64(3, 'UTC'),
    revoked_at Nullable(DateTime64(3, 'UTC')),
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ${REPLICATED}ReplacingMergeTree(updated_at)
ORDER BY prefix;
