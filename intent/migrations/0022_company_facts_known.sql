-- A company's name, domain, country and source per day keep the latest *known* value: an event
-- without them (a server-side event sent with a write key, a line with no location) no longer
-- overwrites them with ''. anyLast skips NULL, so the columns become Nullable and the view
-- writes NULL for ''. Rows already stored keep their values; their '' become NULL so that a
-- later merge cannot prefer them either. (Readers still ignore '' as well as NULL.)
ALTER TABLE daily_companies ${ON_CLUSTER}
    MODIFY COLUMN company_domain SimpleAggregateFunction(anyLast, LowCardinality(Nullable(String))),
    MODIFY COLUMN company_name SimpleAggregateFunction(anyLast, LowCardinality(Nullable(String))),
    MODIFY COLUMN company_source SimpleAggregateFunction(anyLast, LowCardinality(Nullable(String))),
    MODIFY COLUMN country SimpleAggregateFunction(anyLast, LowCardinality(Nullable(String))),
    MODIFY COLUMN traffic_class SimpleAggregateFunction(anyLast, LowCardinality(Nullable(String)));

ALTER TABLE daily_companies ${ON_CLUSTER}
    UPDATE company_domain = nullIf(company_domain, ''), company_name = nullIf(company_name, ''),
           company_source = nullIf(company_source, ''), country = nullIf(country, ''),
           traffic_class = nullIf(traffic_class, '')
    WHERE company_domain = '' OR company_name = '' OR company_source = '' OR country = ''
       OR traffic_class = '';

ALTER TABLE daily_companies_mv ${ON_CLUSTER} MODIFY QUERY
SELECT
    site,
    toDate(ts) AS day,
    company_key,
    anyLast(nullIf(company_domain, '')) AS company_domain,
    anyLast(nullIf(company_name, '')) AS company_name,
    anyLast(nullIf(company_source, '')) AS company_source,
    max(confidence) AS confidence,
    anyLast(nullIf(country, '')) AS country,
    anyLast(nullIf(traffic_class, '')) AS traffic_class,
    toUInt64(count()) AS events,
    min(ts) AS first_ts,
    max(ts) AS last_ts
FROM events
WHERE company_key != ''
GROUP BY site, day, company_key;
