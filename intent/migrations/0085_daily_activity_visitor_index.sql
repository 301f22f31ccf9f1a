-- Re-scoring one company reads its identified visitors' anonymous rows (company_key ''): the
-- primary key narrows those to the day's anonymous block, which holds nearly every anonymous
-- granule, so the read grew with all anonymous traffic. A bloom filter per granule on the
-- visitor lets a lookup of a few visitors skip the granules that hold none of them (and so
-- does forgetting a visitor). Existing parts get the index by a background mutation.
ALTER TABLE daily_activity ${ON_CLUSTER} ADD INDEX IF NOT EXISTS visitor_bloom visitor_id TYPE bloom_filter(0.01) GRANULARITY 1;
ALTER TABLE daily_activity ${ON_CLUSTER} MATERIALIZE INDEX visitor_bloom;
