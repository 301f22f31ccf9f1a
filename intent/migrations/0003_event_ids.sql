-- Client-sent event ids (a beacon's `id`) already stored, so that a retry is stored once even
-- after a restart or at another worker or replica (the collector's memory of ids is per
-- process): the writer looks a segment's client ids up here before inserting it, and records
-- them, with the segment that stored them, after (collector/storedids.py). Ordered by the id
-- with small granules, so a look-up reads a few granules per id; kept two days, dropped a whole
-- day at a time.
CREATE TABLE IF NOT EXISTS event_ids ${ON_CLUSTER}
(
    event_id UUID,
    segment String,
    day Date DEFAULT today()
)
ENGINE = ${REPLICATED}MergeTree
PARTITION BY day
ORDER BY event_id
TTL day + INTERVAL 2 DAY
SETTINGS index_granularity = 1024, ttl_only_drop_parts = 1,
    non_replicated_deduplication_window = 10000;
