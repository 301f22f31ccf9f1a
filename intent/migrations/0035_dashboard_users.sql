-- Dashboard users (`intent users create`). The address itself is never stored: the sign-in
-- name is a SHA-256 of the lower-cased address, plus a masked hint for `intent users list`.
-- The password is an scrypt hash with its own salt. A row is replaced on change (FINAL).
CREATE TABLE IF NOT EXISTS dashboard_users ${ON_CLUSTER}
(
    email_hash String,
    email_hint String,
    user_id String,
    password_hash String,
    sites Array(String),
    deleted UInt8,
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(6, 'UTC')
)
ENGINE = ${REPLICATED}ReplacingMergeTree(updated_at)
ORDER BY email_hash;

-- Dashboard sign-in sessions: the cookie holds a random id, the table only its SHA-256.
-- `subject` is a user id or an API key prefix. A user session ends when the user is changed
-- or deleted after it was opened; sign-out writes revoked = 1.
CREATE TABLE IF NOT EXISTS dashboard_sessions ${ON_CLUSTER}
(
    session_hash String,
    kind LowCardinality(String),
    subject String,
    sites Array(String),
    csrf String,
    created_at DateTime64(6, 'UTC'),
    expires_at DateTime64(3, 'UTC'),
    revoked UInt8,
    updated_at DateTime64(6, 'UTC')
)
ENGINE = ${REPLICATED}ReplacingMergeTree(updated_at)
ORDER BY session_hash
TTL toDateTime(expires_at) + INTERVAL 1 DAY;
