-- The evidence of a re-scored company: the accepted event that marked it for re-scoring
-- (intent.alerts.rescorer): custom event name (or pageview, identify), its page, its time.
ALTER TABLE company_scores ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS evidence_event LowCardinality(String) DEFAULT '';
ALTER TABLE company_scores ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS evidence_path String DEFAULT '';
ALTER TABLE company_scores ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS evidence_at DateTime64(3, 'UTC') DEFAULT toDateTime64(0, 3, 'UTC');
