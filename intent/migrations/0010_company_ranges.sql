-- The site owner's own knowledge: IP ranges -> company (`intent ranges import FILE.csv`).
-- One row per CIDR; a re-import of the same CIDR replaces it (read with FINAL). Loaded into an
-- in-memory longest-prefix lookup by the collector at start-up and on change.
CREATE TABLE IF NOT EXISTS company_ranges ${ON_CLUSTER}
(
    cidr String,
    domain String,
    name String,
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ${REPLICATED}ReplacingMergeTree(updated_at)
ORDER BY cidr;
