"""What the API and the dashboard read about a site's companies: their latest snapshots (listed
or ranked), one company's score history, and its activity. SQL as named constants, values bound
server-side; the f-strings below only join these constants."""

from __future__ import annotations

from intent.priority import PRIORITY_ORDER
from intent.scoring_sql import ATTRIBUTED

COMPANY_COLUMNS = """
    company_key, company_name, company_domain, country, company_source, confidence, score, tier,
    previous_tier, previous_score, transition, reasons, visitors, active_days, first_seen,
    last_seen, top_pages, is_customer, day, changed_at, buying_at
"""

# Each company's latest snapshot of a site (company_latest, kept by a view: 0032), by tier and
# by country ('' for any).
OF_SITE = """
    WHERE site = {site:String}
      AND ({tier:String} = '' OR tier = {tier:String})
      AND ({country:String} = '' OR country = {country:String})
"""
LATEST_OF_SITE = "\n    FROM company_latest FINAL" + OF_SITE

# Each company's current claim (intent.alerts.claims): its latest log entry, when a claim.
CURRENT_CLAIMS = """
    SELECT company_key, argMax(who, at) AS who, argMax(note, at) AS note, max(at) AS claimed_at,
           argMax(response_ms, at) AS response_ms, argMax(hot_since, at) AS hot_since
    FROM claims
    WHERE site = {site:String}
    GROUP BY company_key
    HAVING argMax(action, at) = 'claim'
"""
# Who claimed each company, and when ('' and 1970 when nobody has).
CLAIMED = f"""
    LEFT JOIN (SELECT company_key, who AS claimed_by, claimed_at FROM ({CURRENT_CLAIMS}))
        AS claim USING (company_key)
"""  # noqa: S608  joins constants

# What the API lists; `claimed` and `customer` -1 any, 1 only those, 0 none of them.
LISTED = f"""
    SELECT {COMPANY_COLUMNS}, claimed_by, claimed_at
    FROM company_latest FINAL
    {CLAIMED}
    {OF_SITE}
      AND ({{claimed:Int8}} = -1 OR (claimed_by != '') = {{claimed:Int8}})
      AND ({{customer:Int8}} = -1 OR is_customer = {{customer:Int8}})
      AND score >= {{min_score:Float64}}
      AND changed_at >= {{since:DateTime64(3, 'UTC')}}
"""  # noqa: S608  joins constants
# sort=changed (the default, what a sync pages through): after the cursor, in keyset order.
LIST_COMPANIES = f"""
    {LISTED}
      AND (changed_at, company_key) > ({{after_t:DateTime64(3, 'UTC')}}, {{after_k:String}})
    ORDER BY changed_at, company_key
    LIMIT {{limit:UInt32}}
"""
# sort=priority: the rep's order (intent.priority), by offset.
LIST_BY_PRIORITY = f"""
    {LISTED}
    ORDER BY {PRIORITY_ORDER}
    LIMIT {{limit:UInt32}} OFFSET {{offset:UInt32}}
"""

# What the dashboard ranks: prospects or (`customers` 1) existing customers seen in the last
# `days`, matching a search, in the rep's order (intent.priority), by page.
RANK_COMPANIES = f"""
    SELECT company_key, company_name AS c_name, company_domain AS c_domain, country AS c_country,
           score AS c_score, tier AS c_tier, transition AS c_transition, reasons AS c_reasons,
           visitors AS c_visitors, last_seen AS c_last_seen, is_customer AS c_customer, day AS c_day,
           buying_at AS c_buying_at
    {LATEST_OF_SITE}
      AND is_customer = {{customers:UInt8}}
      AND day >= {{today:Date}} - {{days:UInt32}}
      AND ({{q:String}} = '' OR positionCaseInsensitiveUTF8(company_name, {{q:String}}) > 0
           OR positionCaseInsensitiveUTF8(company_domain, {{q:String}}) > 0)
    ORDER BY {PRIORITY_ORDER}
    LIMIT {{limit:UInt32}} OFFSET {{offset:UInt32}}
"""

# Tab counts: prospects by tier, and existing customers apart (is_customer), by country.
COMPANY_FACETS = """
    SELECT tier AS c_tier, country AS c_country, is_customer AS c_customer, count() AS companies
    FROM company_latest FINAL
    WHERE site = {site:String} AND day >= {today:Date} - {days:UInt32}
    GROUP BY tier, country, is_customer
"""

COMPANY_LATEST = f"""
    SELECT {COMPANY_COLUMNS}, claimed_by, claimed_at
    FROM company_latest FINAL
    {CLAIMED}
    WHERE site = {{site:String}} AND company_key = {{company:String}}
"""  # noqa: S608  joins constants

# One company's daily snapshots from `start`.
SCORE_HISTORY = """
    SELECT day, company_name, company_domain, country, company_source, confidence, score, tier,
           transition, reasons, visitors, active_days, first_seen, last_seen, top_pages,
           is_customer
    FROM company_scores FINAL
    WHERE site = {site:String} AND company_key = {company:String} AND day >= {start:Date}
    ORDER BY day
"""

# The most distinct visitors on one day: ids are salted per day, so only one day's are people.
COMPANY_VISITORS = """
    SELECT max(visitors) FROM (
        SELECT uniqExact(visitor_id) AS visitors
        FROM daily_activity
        WHERE site = {site:String} AND company_key = {company:String} AND day >= {start:Date}
        GROUP BY day
    )
"""
COMPANY_TIMELINE = """
    SELECT day, kind, key, sum(hits) AS hits, sum(engaged_ms) AS engaged_ms,
           max(max_scroll) AS max_scroll, uniqExact(visitor_id) AS visitors
    FROM daily_activity
    WHERE site = {site:String} AND company_key = {company:String} AND day >= {start:Date}
    GROUP BY day, kind, key
    ORDER BY day DESC, kind, hits DESC, key
    LIMIT 50 BY day, kind
"""

# The company's visits as scoring counts them: its own rows, plus the anonymous rows of
# visitors who identified as it (scoring's attribution, one definition).
COMPANY_ACTIVITY = (
    "WITH"
    + ATTRIBUTED
    + """
SELECT day, kind, key, sum(hits) AS hits, uniqExact(visitor_id) AS visitors,
       sum(engaged_ms) AS engaged_ms
FROM activity
WHERE ck = {company:String}
GROUP BY day, kind, key
ORDER BY day DESC, hits DESC, key
"""
)

# Page titles, referrers and browsers are only in raw events; this scan stays within one
# company's visitors (events are ordered by site, day, company, visitor).
COMPANY_VISITS = (
    "WITH"  # noqa: S608  joins constants (scoring_sql.ATTRIBUTED)
    + ATTRIBUTED
    + """
SELECT toDate(ts) AS day, groupUniqArray(10)(referrer) AS referrers,
       groupUniqArray(10)(concat(browser, ' on ', os, ' (', device, ')')) AS agents,
       groupUniqArrayIf(50)((path, title), type = 'pageview') AS titles
FROM events
WHERE site = {site:String} AND toDate(ts) BETWEEN {start:Date} AND {day:Date}
  AND (company_key = {company:String}
       OR ((company_key = ''
            OR (visitor_id, toDate(ts), company_key) IN (SELECT visitor_id, day, from_key FROM late))
           AND visitor_id IN (SELECT visitor_id FROM activity WHERE ck = {company:String})))
GROUP BY day
"""
)
