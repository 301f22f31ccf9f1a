-- When each company's latest buying signal (a signal with buying = true: demo_request, demo,
-- pricing by default) was seen in the scoring window; 1970 when none was. The rep's order
-- (newly hot today, then the freshest buying signal, then score, then fit) reads it.
ALTER TABLE company_scores ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS buying_at DateTime64(3, 'UTC') DEFAULT toDateTime64(0, 3, 'UTC');
ALTER TABLE company_latest ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS buying_at DateTime64(3, 'UTC') DEFAULT toDateTime64(0, 3, 'UTC');

ALTER TABLE company_latest_mv ${ON_CLUSTER} MODIFY QUERY
SELECT
    site, company_key, day, company_name, company_domain, country, company_source, confidence,
    score, tier, previous_tier, previous_score, transition, reasons, visitors, active_days,
    first_seen, last_seen, top_pages, is_customer, changed_at, computed_at,
    toUInt64(toRelativeDayNum(day)) * 10000000000000 + toUInt64(toUnixTimestamp64Milli(computed_at)) AS version,
    buying_at
FROM company_scores;
