-- A spool segment replayed after a crash (inserted, not yet deleted) is dropped from `events` by
-- its deduplication token, but the materialized views still pushed it into the rollups, which
-- counted it twice: a rollup table deduplicates a view's block only with a deduplication window
-- of its own (ClickHouse 26.9, deduplicate_blocks_in_dependent_materialized_views = 1).
ALTER TABLE daily_activity ${ON_CLUSTER} MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE daily_companies ${ON_CLUSTER} MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE identities ${ON_CLUSTER} MODIFY SETTING non_replicated_deduplication_window = 10000;
