"""Synthetic `events` rows generated inside ClickHouse (`INSERT ... SELECT ... FROM numbers`):
the writer benchmark's engine ceiling and the data for the queries-at-scale benchmark.

30 days, 2,000 companies with a skewed (cubic) share of traffic, 40 % of events from
unidentified networks, a few visitors per company, the snippet's event mix.
"""

from __future__ import annotations

INSERT_EVENTS = """
INSERT INTO events (event_id, site, ts, type, name, url, host, path, title, referrer, referrer_host,
    utm_source, utm_medium, utm_campaign, props, visitor_id, engaged_ms, scroll, country, region,
    city, asn, as_org, isp, organization, connection_type, traffic_class, company_key,
    company_domain, company_name, company_source, confidence, browser, browser_version, os,
    os_version, device)
SELECT
    generateUUIDv4(number) AS event_id,
    {site:String} AS site,
    {end:DateTime64(3, 'UTC')} - toIntervalMillisecond(cityHash64(number, 1) % ({days:UInt32} * 86400000)) AS ts,
    multiIf(r < 55, 'pageview', r < 80, 'engagement', r < 98, 'event', 'identify') AS type,
    if(type = 'event', ['signup_click', 'demo_request', 'download', 'cta_click'][1 + number % 4], '') AS name,
    concat('https://example.com', path) AS url,
    'example.com' AS host,
    ['/', '/pricing', '/product', '/product/integrations', '/docs/getting-started', '/blog/intent-data',
     '/customers', '/demo', '/careers', '/about', '/security', '/docs/api', '/blog/b2b-sales'][1 + cityHash64(number, 5) % 13] AS path,
    concat('Example - ', path) AS title,
    ['', 'https://www.google.com/', 'https://www.linkedin.com/feed/'][1 + cityHash64(number, 6) % 3] AS referrer,
    domain(referrer) AS referrer_host,
    if(cityHash64(number, 7) % 5 = 0, 'linkedin', '') AS utm_source,
    if(utm_source != '', 'paid', '') AS utm_medium,
    if(utm_source != '', 'q4-launch', '') AS utm_campaign,
    if(type = 'event', '{"plan":"team","position":"hero"}', '') AS props,
    lower(hex(cityHash64(if(known, c, 100000 + cityHash64(number, 4) % 300000), cityHash64(number, 4) % 6))) AS visitor_id,
    if(type = 'engagement', toUInt32(cityHash64(number, 8) % 120000), 0) AS engaged_ms,
    if(type = 'engagement', toUInt8(cityHash64(number, 9) % 101), 0) AS scroll,
    ['US', 'DE', 'GB', 'FR'][1 + c % 4] AS country,
    concat('Region ', toString(c % 10)) AS region,
    concat('City ', toString(c % 50)) AS city,
    toUInt32(if(known, 64000 + c, 3320)) AS asn,
    if(known, concat('Company ', toString(c), ' AS'), 'Deutsche Telekom AG') AS as_org,
    if(known, concat('Company ', toString(c), ' Networks'), 'Deutsche Telekom') AS isp,
    if(known, concat('Company ', toString(c), ' Inc'), 'Deutsche Telekom') AS organization,
    if(known, 'Corporate', 'Cable/DSL') AS connection_type,
    if(known, 'business', 'isp') AS traffic_class,
    if(known, concat('company', toString(c), '.example'), '') AS company_key,
    company_key AS company_domain,
    if(known, concat('Company ', toString(c), ' Inc'), '') AS company_name,
    if(known, 'maxmind', '') AS company_source,
    toFloat32(if(known, 0.8, 0)) AS confidence,
    ['Chrome', 'Chrome', 'Safari', 'Firefox', 'Edge'][1 + cityHash64(number, 10) % 5] AS browser,
    ['131', '130', '18', '133', '131'][1 + cityHash64(number, 10) % 5] AS browser_version,
    ['Windows', 'Mac OS X', 'Mac OS X', 'Windows', 'Linux'][1 + cityHash64(number, 11) % 5] AS os,
    '10' AS os_version,
    'desktop' AS device
FROM (
    SELECT number,
           cityHash64(number, 3) % 100 AS r,
           cityHash64(number, 12) % 10 >= 4 AS known,
           toUInt32(pow((cityHash64(number, 2) % 1000000) / 1000000.0, 3) * {companies:UInt32}) AS c
    FROM numbers({start:UInt64}, {n:UInt64})
)
"""


def insert_events(
    store: object, site: str, start: int, n: int, days: int = 30, companies: int = 2000
) -> None:
    from datetime import UTC, datetime

    from collector.store import Store

    assert isinstance(store, Store)
    end = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.000")
    store.command(INSERT_EVENTS, {"site": site, "end": end, "days": days, "start": start, "n": n,
                                  "companies": companies})  # fmt: skip
