"""The SQL of company scoring: the rollup reads of `intent.scoring` and their bound parameters.

`ATTRIBUTED` (a visitor's activity attributed to the company they identified as, or one found
later) is the common table every read starts from; the company page reads it too.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from intent.rules import Rules

# Activity per company in the window. A visitor's anonymous activity (company_key '') is
# attributed to the company they identified as (identities) within the same window; failing
# that, to a company found for that visit later (attributions: a reverse-DNS answer that arrived
# after the visit was stored), which also replaces the AS owner the visit was stored with
# (`from_key`). The AggregatingMergeTree rows are not merged first: sum/min/max re-aggregate at
# any grain. `{every}`/`{companies}` (see `only`) keep each branch to the companies asked for
# before anything is joined, so re-scoring one company reads its rows and its visitors' only.
# (The dashboard's company page reads it too, so it shows the visits the score counted.)
ATTRIBUTED = """
    ident AS (
        SELECT visitor_id, argMax(company_domain, ts) AS domain
        FROM identities
        WHERE site = {site:String} AND toDate(ts) BETWEEN {start:Date} AND {day:Date}
        GROUP BY visitor_id
    ),
    ident_of AS (
        SELECT visitor_id, domain FROM ident
        WHERE {every:Bool} OR domain IN {companies:Array(String)}
    ),
    late AS (
        SELECT visitor_id, day, from_key, argMax(company_key, ts) AS ck
        FROM attributions
        WHERE site = {site:String} AND day BETWEEN {start:Date} AND {day:Date}
        GROUP BY visitor_id, day, from_key
    ),
    late_of AS (
        SELECT visitor_id, day, from_key, ck FROM late
        WHERE {every:Bool} OR ck IN {companies:Array(String)}
    ),
    activity AS (
        SELECT company_key AS ck, visitor_id, day, kind, key, hits, engaged_ms, first_ts, last_ts
        FROM daily_activity
        WHERE site = {site:String} AND day BETWEEN {start:Date} AND {day:Date} AND company_key != ''
          AND ({every:Bool} OR company_key IN {companies:Array(String)})
          AND (visitor_id, day, company_key) NOT IN (SELECT visitor_id, day, from_key FROM late)
        UNION ALL
        SELECT i.domain AS ck, a.visitor_id AS visitor_id, a.day AS day, a.kind AS kind,
               a.key AS key, a.hits AS hits, a.engaged_ms AS engaged_ms, a.first_ts AS first_ts,
               a.last_ts AS last_ts
        FROM daily_activity AS a
        INNER JOIN ident_of AS i ON a.visitor_id = i.visitor_id
        WHERE a.site = {site:String} AND a.day BETWEEN {start:Date} AND {day:Date}
          AND a.company_key = ''
          AND ({every:Bool} OR a.visitor_id IN (SELECT visitor_id FROM ident_of))
        UNION ALL
        SELECT l.ck AS ck, a.visitor_id AS visitor_id, a.day AS day, a.kind AS kind,
               a.key AS key, a.hits AS hits, a.engaged_ms AS engaged_ms, a.first_ts AS first_ts,
               a.last_ts AS last_ts
        FROM daily_activity AS a
        INNER JOIN late_of AS l
            ON a.visitor_id = l.visitor_id AND a.day = l.day AND a.company_key = l.from_key
        WHERE a.site = {site:String} AND a.day BETWEEN {start:Date} AND {day:Date}
          AND ({every:Bool} OR a.visitor_id IN (SELECT visitor_id FROM late_of))
          AND (a.company_key != '' OR a.visitor_id NOT IN (SELECT visitor_id FROM ident))
    )
"""

# Every company (the daily run), or only the companies an event marked for re-scoring
# (intent.alerts.rescorer): one company's rows never change another's score, so the same queries
# give both the same numbers.
_ONLY = "({every:Bool} OR ck IN {companies:Array(String)})"

# Points lose half their value every half-life: weight = 0.5 ^ (age in days / half-life).
_DECAY = "pow(0.5, dateDiff('day', {d}, {{day:Date}}) / {{half_life:Float64}})"

# Per (company, signal): visitor-days, and the sum of decay x cap share over them. Pages are
# classified by all page patterns at once (multiMatchAllIndices; the lowest index is the first
# signal written), events by name. A signal counts once per visitor and day, and one visitor's
# positive points in one day are capped (each signal keeps its share of the cap). `buying_at`:
# the latest hit of a buying signal on the visitor-days that had one (1970 on the others).
SIGNAL_TOTALS = (
    "WITH"  # noqa: S608  joins constants (ATTRIBUTED)
    + ATTRIBUTED
    + """
SELECT ck, sig, count() AS visitor_days,
       sum(if({signal_points:Array(Float64)}[sig] > 0, scale, 1.0) * decayed) AS weight,
       min(age) AS latest_age, max(visitor_customer) AS customer, max(buying_ts) AS buying_at
FROM (
    SELECT ck, visitor_id, day, dateDiff('day', day, {day:Date}) AS age,
           """
    + _DECAY.format(d="day")
    + """ AS decayed,
           groupUniqArrayIf(sig, sig > 0) AS sigs, max(page_customer) AS visitor_customer,
           maxIf(last_ts, has({buying_signals:Array(UInt16)}, sig)) AS buying_ts,
           arraySum(s -> greatest({signal_points:Array(Float64)}[s], 0.0), sigs) AS positive,
           if(positive > 0, least(1.0, {cap:Float64} / positive), 1.0) AS scale
    FROM (
        SELECT ck, visitor_id, day, last_ts,
               if(kind = 'event',
                  transform(key, {event_names:Array(String)}, {event_signals:Array(UInt16)},
                            toUInt16(0)),
                  {page_signals:Array(UInt16)}[arrayMin(arrayPushBack(
                      multiMatchAllIndices(key, {page_patterns:Array(String)}),
                      length({page_signals:Array(UInt16)})))]) AS sig,
               if(kind = 'event', has({customer_events:Array(String)}, key),
                  {customer_regex:String} != ''
                  AND match(key, concat('(?i)', {customer_regex:String}))) AS page_customer
        FROM activity
        WHERE """
    + _ONLY
    + """
    )
    WHERE sig > 0 OR page_customer
    GROUP BY ck, visitor_id, day
)
ARRAY JOIN if(empty(sigs), [toUInt16(0)], sigs) AS sig
GROUP BY ck, sig
"""
)

# Per company, from its distinct visitors per day (ids are salted per day, so the same person
# on two days is two ids and only one day's ids are distinct people): breadth is the best day's
# extra people, decayed by that day's age; frequency every active day but the most recent,
# decayed; first and last seen.
COMPANY_ROWS = (
    "WITH"  # noqa: S608  joins constants (ATTRIBUTED)
    + ATTRIBUTED
    + """
SELECT ck, max(visitors) AS max_visitors_per_day, max((visitors - 1) * decayed) AS breadth_weight,
       count() AS active_days, sum(decayed) - max(decayed) AS extra_day_weight,
       min(first_ts) AS first_seen, max(last_ts) AS last_seen
FROM (
    SELECT ck, day, uniqExact(visitor_id) AS visitors, """
    + _DECAY.format(d="day")
    + """ AS decayed,
           min(first_ts) AS first_ts, max(last_ts) AS last_ts
    FROM activity
    WHERE """
    + _ONLY
    + """
    GROUP BY ck, day
)
GROUP BY ck
"""
)

# The most viewed pages of each company (ties by path), exact.
TOP_PAGES_OF = (
    "WITH"  # noqa: S608  joins constants (ATTRIBUTED)
    + ATTRIBUTED
    + """
SELECT ck, arraySlice(arrayMap(t -> t.2, arraySort(groupArray((-views, key)))), 1, {top:UInt32})
FROM (
    SELECT ck, key, toInt64(sum(hits)) AS views
    FROM activity
    WHERE kind = 'page' AND """
    + _ONLY
    + """
    GROUP BY ck, key
)
GROUP BY ck
"""
)

# The latest *known* name, domain, place and source of each company seen in the window: an
# event without them (server-side, a line with no location) leaves NULL (0022) or, in rows
# written before 0022, ''; neither replaces a value. Unmerged rows of one day: the latest wins.
COMPANY_FACTS = """
SELECT company_key,
       ifNull(argMaxIf(company_name, (day, last_ts), company_name != ''), '') AS company_name,
       ifNull(argMaxIf(company_domain, (day, last_ts), company_domain != ''), '') AS company_domain,
       ifNull(argMaxIf(country, (day, last_ts), country != ''), '') AS country,
       ifNull(argMaxIf(company_source, (day, last_ts), company_source != ''), '') AS company_source,
       max(confidence) AS confidence
FROM daily_companies
WHERE site = {site:String} AND day BETWEEN {start:Date} AND {day:Date}
  AND ({every:Bool} OR company_key IN {companies:Array(String)})
GROUP BY company_key
"""

# Where a company's visits came from, for a company whose facts have no country: its visits were
# stored without it (an anonymous visit of a visitor who identified later, a visit whose
# reverse-DNS answer came later) and the row that named it carried none (an identify sent by the
# site's backend without the visitor's address). The latest known country of those visits; only
# the attributed visitors' rows are read (events are ordered by site, day, company, visitor): a
# company's own rows carried no country either, or its facts would have one.
VISIT_COUNTRIES = (
    "WITH"  # noqa: S608  joins constants (ATTRIBUTED)
    + ATTRIBUTED
    + """,
    visitors AS (
        SELECT DISTINCT ck, visitor_id, day FROM activity
        WHERE """
    + _ONLY
    + """
          AND visitor_id IN (SELECT visitor_id FROM ident_of UNION ALL SELECT visitor_id FROM late_of)
    )
SELECT v.ck AS ck, argMax(e.country, e.ts) AS country
FROM (
    SELECT visitor_id, toDate(ts) AS day, ts, country
    FROM events
    WHERE site = {site:String} AND toDate(ts) BETWEEN {start:Date} AND {day:Date}
      AND country != ''
      AND (company_key = ''
           OR (visitor_id, toDate(ts), company_key) IN (SELECT visitor_id, day, from_key FROM late))
      AND (visitor_id, toDate(ts)) IN (SELECT visitor_id, day FROM visitors)
) AS e
INNER JOIN visitors AS v ON e.visitor_id = v.visitor_id AND e.day = v.day
GROUP BY v.ck
"""
)

SNAPSHOT = """
SELECT company_key, company_name, company_domain, country, company_source, confidence,
       score, tier, previous_tier, transition, reasons, first_seen, last_seen, is_customer,
       changed_at, evidence_event, evidence_path, evidence_at
FROM company_scores FINAL
WHERE site = {site:String} AND day = {day:Date}
  AND ({every:Bool} OR company_key IN {companies:Array(String)})
"""

PREVIOUS_DAY = """
SELECT max(day) FROM company_scores
WHERE site = {site:String} AND day < {day:Date} AND day >= {day:Date} - 400
"""


def only(companies: Collection[str] | None) -> dict[str, Any]:
    """The bound parameters of the company filter (`_ONLY`): None is every company."""
    return {"every": companies is None, "companies": sorted(companies or ())}


def rule_params(rules: Rules) -> dict[str, Any]:
    """The rules as bound parameters of SIGNAL_TOTALS: signal ids are 1-based positions."""
    patterns, page_ids, event_names, event_ids = [], [], [], []
    for i, sig in enumerate(rules.signals, start=1):
        if sig.page_regex:
            patterns.append("(?i)" + sig.page_regex)
            page_ids.append(i)
        for name in sig.events:
            if name not in event_names:  # the first signal written wins
                event_names.append(name)
                event_ids.append(i)
    if not patterns:
        patterns, page_ids = ["^$"], [0]
    return {
        "page_patterns": patterns,
        "page_signals": [*page_ids, 0],  # the last entry: no pattern matched
        "event_names": event_names,
        "event_signals": event_ids,
        "signal_points": [s.points for s in rules.signals],
        "buying_signals": [i for i, s in enumerate(rules.signals, start=1) if s.buying],
        "cap": rules.cap_per_visitor_day,
        "half_life": rules.half_life_days,
        "customer_regex": rules.customer.page_regex,
        "customer_events": list(rules.customer.events),
    }
