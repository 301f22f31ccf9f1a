"""Company scores: pure scoring of one company's rollup activity, and daily snapshots per site.

`score_company` is pure (rules + activity + day -> score, tier, reasons). `compute_scores` reads
only the rollups (`daily_activity`, `daily_companies`, `identities`, `attributions`) for the
rules' window and scores every company; `score_site` adds transitions against the previous
snapshot and writes the day's rows to `company_scores`. How the numbers work: docs/scoring.md.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from collector.settings import SiteConfig
from collector.store import Store, ch_time
from intent.rules import Rules, parse_rules

log = logging.getLogger("intent.scoring")

TIERS = ("hot", "warm", "cold")  # hottest first
TIER_RANK = {"": -1, "cold": 0, "warm": 1, "hot": 2}
TIERS = ("hot", "warm", "cold")
# What `transition` writes besides '': the API's values (an enum in its spec) and webhooks' data.
TRANSITIONS = ("newly_hot", "still_hot", "newly_warm", "cooling")
TOP_PAGES = 5


@dataclass(frozen=True)
class SignalTotal:
    """One signal of one company over the window, as SIGNAL_TOTALS sums it from the rollups."""

    signal: str
    visitor_days: int  # (visitor, day) pairs it was seen on: once per visitor per day
    weight: float  # sum over those visitor-days of decay(age) x that visitor-day's cap share
    latest_age: int  # days before the scored day it was last seen (0 = that day)


@dataclass(frozen=True)
class Activity:
    """What the rollups say about one company inside the scoring window (decay applied)."""

    signals: Sequence[SignalTotal] = ()
    # Visitor ids are salted per day, so only a day's distinct ids are distinct people.
    max_visitors_per_day: int = 0
    breadth_weight: float = 0.0  # the largest (visitors that day - 1) x decay(that day's age)
    active_days: int = 0
    extra_day_weight: float = 0.0  # decayed weight of every active day but the most recent
    customer: bool = False  # a visit to a customer page or event in the window


@dataclass(frozen=True)
class Score:
    score: float
    tier: str
    reasons: tuple[str, ...]
    max_visitors_per_day: int
    active_days: int
    is_customer: bool
    buying_age: int | None  # days since the latest buying signal, None if none in the window


def fmt_points(points: float) -> str:
    """+32, +7.4, -10: whole numbers from 10 up, one decimal below."""
    sign = "-" if points < 0 else "+"
    size = abs(points)
    text = f"{size:.0f}" if size >= 9.95 else f"{size:.1f}".rstrip("0").rstrip(".")
    return sign + text


def when(age: int) -> str:
    return "today" if age == 0 else "yesterday" if age == 1 else f"{age} days ago"


def score_company(rules: Rules, activity: Activity) -> Score:
    """Signal points + breadth + frequency (all decayed, capped); tier; reasons in words."""
    points: dict[str, float] = {}
    buying_age: int | None = None
    for t in activity.signals:
        sig = rules.signal(t.signal)
        if sig is None:
            continue
        points[t.signal] = sig.points * t.weight
        if sig.buying and (buying_age is None or t.latest_age < buying_age):
            buying_age = t.latest_age
    breadth = min(rules.breadth_max, rules.breadth_points * activity.breadth_weight)
    frequency = min(rules.frequency_max, rules.frequency_points * activity.extra_day_weight)
    score = round(max(0.0, sum(points.values()) + breadth + frequency), 1)

    recent_buying = buying_age is not None and buying_age < rules.buying_window_days
    if score >= rules.hot and recent_buying:
        tier = "hot"
    elif score >= rules.warm:
        tier = "warm"
    else:
        tier = "cold"

    reasons = [with_points(people(activity.max_visitors_per_day, activity.active_days), breadth)]
    order = [s.name for s in rules.signals]
    totals = {t.signal: t for t in activity.signals}
    for name in sorted(points, key=lambda n: (-abs(points[n]), order.index(n))):
        if abs(points[name]) < 0.5:  # a blog post read weeks ago is noise to sales
            continue
        t = totals[name]
        seen = f"×{t.visitor_days}" if t.visitor_days > 1 else when(t.latest_age)
        reasons.append(f"{name} {seen} ({fmt_points(points[name])})")
    reasons.append(with_points(plural(activity.active_days, "active day"), frequency))
    if score >= rules.hot and not recent_buying:
        reasons.append(_not_hot(rules, buying_age))
    if activity.customer:
        reasons.append("existing customer (login/app pages)")
    return Score(
        score,
        tier,
        tuple(reasons),
        activity.max_visitors_per_day,
        activity.active_days,
        activity.customer,
        buying_age,
    )


def _not_hot(rules: Rules, buying_age: int | None) -> str:
    """Why a score past `hot` is not hot, in the window's own terms: ages 0 .. window - 1."""
    buying = "/".join(s.name for s in rules.signals if s.buying)
    last = f"no {buying}" if buying_age is None else f"last {buying} {when(buying_age)}"
    return f"not hot: {last}, hot needs one {buying_window(rules)}"


def buying_window(rules: Rules) -> str:
    """When hot's buying signal must have happened, as ages read: 'at most 6 days ago'."""
    newest = rules.buying_window_days - 1
    return {0: "today", 1: "today or yesterday"}.get(newest, f"at most {newest} days ago")


def number(value: float) -> str:
    """Scores as people write them: 54, 12.5, -3."""
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def score_label(score: float, rules: Rules) -> str:
    """A score with its scale, wherever a person reads it: '131 · hot ≥ 50', '12 · warm ≥ 20'
    (the hot threshold from warm up, the warm one below)."""
    threshold = f"hot ≥ {rules.hot:g}" if score >= rules.warm else f"warm ≥ {rules.warm:g}"
    return f"{number(score)} · {threshold}"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def with_points(text: str, points: float) -> str:
    return text + (f" ({fmt_points(points)})" if points >= 0.05 else "")


def people(max_visitors_per_day: int, active_days: int) -> str:
    """Breadth as a rep reads it: ids are daily, so the most people seen on one day."""
    n = max_visitors_per_day
    if n == 0:
        return "no visits"
    if active_days <= 1:
        return "1 person" if n == 1 else f"{n} people"
    return "1 person a day" if n == 1 else f"up to {n} people on one day"


def activity_label(max_visitors_per_day: int, active_days: int) -> str:
    """'up to 3 people on one day · 6 active days': the digest's and dashboard's summary line."""
    return f"{people(max_visitors_per_day, active_days)} · {plural(active_days, 'active day')}"


def transition(tier: str, previous: str) -> str:
    """newly_hot, newly_warm, cooling (tier dropped), still_hot, or ''."""
    if tier == "hot":
        return "still_hot" if previous == "hot" else "newly_hot"
    if TIER_RANK[tier] < TIER_RANK.get(previous, -1):
        return "cooling"
    if tier == "warm" and previous in ("", "cold"):
        return "newly_warm"
    return ""


# --- Reading the rollups -------------------------------------------------------------------

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
# positive points in one day are capped (each signal keeps its share of the cap).
SIGNAL_TOTALS = (
    "WITH"  # noqa: S608  joins constants (scoring.ATTRIBUTED)
    + ATTRIBUTED
    + """
SELECT ck, sig, count() AS visitor_days,
       sum(if({signal_points:Array(Float64)}[sig] > 0, scale, 1.0) * decayed) AS weight,
       min(age) AS latest_age, max(visitor_customer) AS customer
FROM (
    SELECT ck, visitor_id, day, dateDiff('day', day, {day:Date}) AS age,
           """
    + _DECAY.format(d="day")
    + """ AS decayed,
           groupUniqArrayIf(sig, sig > 0) AS sigs, max(page_customer) AS visitor_customer,
           arraySum(s -> greatest({signal_points:Array(Float64)}[s], 0.0), sigs) AS positive,
           if(positive > 0, least(1.0, {cap:Float64} / positive), 1.0) AS scale
    FROM (
        SELECT ck, visitor_id, day,
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
    "WITH"  # noqa: S608  joins constants (scoring.ATTRIBUTED)
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
    "WITH"  # noqa: S608  joins constants (scoring.ATTRIBUTED)
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


@dataclass(frozen=True)
class Evidence:
    """What an accepted event that marked a company for re-scoring was."""

    event: str  # the custom event's name, or the type: pageview, identify
    path: str
    at: datetime


@dataclass
class CompanyScore:
    """One row of the `company_scores` snapshot (same names as the columns)."""

    site: str
    day: date
    company_key: str
    company_name: str = ""
    company_domain: str = ""
    country: str = ""
    company_source: str = ""
    confidence: float = 0.0
    score: float = 0.0
    tier: str = "cold"
    previous_tier: str = ""
    previous_score: float = 0.0
    transition: str = ""
    reasons: list[str] = field(default_factory=list)
    visitors: int = 0  # the most distinct visitors seen on one day of the window (ids are daily)
    active_days: int = 0
    first_seen: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    last_seen: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    top_pages: list[str] = field(default_factory=list)
    is_customer: bool = False
    changed_at: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    computed_at: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    # The latest event that had the company re-scored: custom event name (or pageview,
    # identify), its page and time; kept through later runs of the day that have none.
    evidence_event: str = ""
    evidence_path: str = ""
    evidence_at: datetime = datetime(1970, 1, 1, tzinfo=UTC)

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["day"] = self.day.isoformat()
        out["is_customer"] = int(self.is_customer)
        for k in ("first_seen", "last_seen", "changed_at", "computed_at", "evidence_at"):
            out[k] = ch_time(getattr(self, k))
        return out


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def rules_of(site: SiteConfig) -> Rules:
    """The site's rules, parsed from its [sites.NAME.rules] table (intent.settings checked it at
    start-up); a SiteConfig built in code may carry parsed Rules already."""
    rules: object = site.rules
    return rules if isinstance(rules, Rules) else parse_rules(site.rules)


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
        "cap": rules.cap_per_visitor_day,
        "half_life": rules.half_life_days,
        "customer_regex": rules.customer.page_regex,
        "customer_events": list(rules.customer.events),
    }


def compute_scores(
    store: Store,
    site: str,
    rules: Rules,
    day: date,
    window_days: int | None = None,
    companies: Collection[str] | None = None,
) -> list[CompanyScore]:
    """Score every company with activity in the window ending on `day`, or only `companies`
    (the same queries and arithmetic either way; no writes)."""
    window = window_days or rules.window_days
    params: dict[str, Any] = {
        "site": site,
        "start": day - timedelta(days=window - 1),
        "day": day,
        "top": TOP_PAGES,
        **only(companies),
        **rule_params(rules),
    }
    names = [s.name for s in rules.signals]
    signals: dict[str, list[SignalTotal]] = defaultdict(list)
    customers: set[str] = set()
    for ck, sig, visitor_days, weight, latest_age, customer in store.query(SIGNAL_TOTALS, params):
        if sig:
            signals[ck].append(SignalTotal(names[sig - 1], visitor_days, weight, latest_age))
        if customer:
            customers.add(ck)
    facts = {r["company_key"]: r for r in store.query_dicts(COMPANY_FACTS, params)}
    top = dict(store.query(TOP_PAGES_OF, params))

    out = []
    for ck, visitors, breadth_w, days, extra_d, first, last in store.query(COMPANY_ROWS, params):
        activity = Activity(
            signals.get(ck, ()), visitors, breadth_w, days, extra_d, ck in customers
        )
        s = score_company(rules, activity)
        f = facts.get(ck, {})
        out.append(
            CompanyScore(
                site=site,
                day=day,
                company_key=ck,
                company_name=f.get("company_name") or ck,
                company_domain=f.get("company_domain") or ("" if " " in ck else ck),
                country=f.get("country", ""),
                company_source=f.get("company_source") or "identify",
                confidence=float(f.get("confidence", 1.0)),
                score=s.score,
                tier=s.tier,
                reasons=list(s.reasons),
                visitors=s.max_visitors_per_day,
                active_days=s.active_days,
                first_seen=_utc(first),
                last_seen=_utc(last),
                top_pages=list(top.get(ck, ())),
                is_customer=s.is_customer,
            )
        )
    out.sort(key=lambda c: (-c.score, c.company_key))
    return out


def only(companies: Collection[str] | None) -> dict[str, Any]:
    """The bound parameters of the company filter (`_ONLY`): None is every company."""
    return {"every": companies is None, "companies": sorted(companies or ())}


def snapshot(
    store: Store, site: str, day: date, companies: Collection[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The stored snapshot rows of one day (of every company or only `companies`), by key."""
    bound = {"site": site, "day": day, **only(companies)}
    return {r["company_key"]: r for r in store.query_dicts(SNAPSHOT, bound)}


def previous_snapshot(
    store: Store, site: str, day: date, companies: Collection[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The latest snapshot before `day` (usually yesterday's)."""
    prev = store.scalar(PREVIOUS_DAY, {"site": site, "day": day})
    if prev is None or prev == date(1970, 1, 1):
        return {}
    return snapshot(store, site, prev, companies)


def with_history(
    site: str,
    day: date,
    scores: Sequence[CompanyScore],
    previous: Mapping[str, Mapping[str, Any]],
    same_day: Mapping[str, Mapping[str, Any]],
    now: datetime,
    evidence: Mapping[str, Evidence] | None = None,
) -> list[CompanyScore]:
    """Transitions against the previous snapshot; changed_at kept while nothing changed; the
    evidence of the event that had a company re-scored, else the day's earlier evidence.

    A company that was warm or hot and has no activity left in the window is kept as a cold,
    cooling row so the drop is reported once.
    """
    out = []
    seen = set()
    for c in scores:
        seen.add(c.company_key)
        out.append(c)
    for ck, p in previous.items():
        if ck in seen or p["tier"] == "cold":
            continue
        seen.add(ck)
        out.append(
            CompanyScore(
                site=site, day=day, company_key=ck, company_name=p["company_name"],
                company_domain=p["company_domain"], country=p["country"],
                company_source=p["company_source"], confidence=float(p["confidence"]),
                reasons=["no visits in the scoring window"], first_seen=_utc(p["first_seen"]),
                last_seen=_utc(p["last_seen"]), is_customer=bool(p["is_customer"]),
            )
        )  # fmt: skip
    result = []
    for c in out:
        before = previous.get(c.company_key)
        c = replace(
            c,
            previous_tier=before["tier"] if before else "",
            previous_score=float(before["score"]) if before else 0.0,
        )
        c.transition = "" if c.is_customer else transition(c.tier, c.previous_tier)
        last = same_day.get(c.company_key) or before
        unchanged = (
            last is not None
            and float(last["score"]) == c.score
            and last["tier"] == c.tier
            and list(last["reasons"]) == c.reasons
        )
        c.changed_at = _utc(last["changed_at"]) if unchanged and last is not None else now
        c.computed_at = now
        found = (evidence or {}).get(c.company_key)
        earlier = same_day.get(c.company_key)
        if found is not None:
            c.evidence_event, c.evidence_path, c.evidence_at = found.event, found.path, found.at
        elif earlier is not None and earlier.get("evidence_event"):
            c.evidence_event, c.evidence_path = earlier["evidence_event"], earlier["evidence_path"]
            c.evidence_at = _utc(earlier["evidence_at"])
        result.append(c)
    return result


def score_site(
    store: Store,
    site: SiteConfig,
    day: date,
    companies: Collection[str] | None = None,
    evidence: Mapping[str, Evidence] | None = None,
) -> list[CompanyScore]:
    """Score every company of a site for `day` (or only `companies`, the incremental run) and
    write those snapshot rows."""
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # DateTime64(3) keeps ms
    scores = compute_scores(store, site.name, rules_of(site), day, companies=companies)
    previous = previous_snapshot(store, site.name, day, companies)
    same_day = snapshot(store, site.name, day, companies)
    result = with_history(site.name, day, scores, previous, same_day, now, evidence)
    write(store, result)
    if companies is None:
        log.info("scored %s for %s: %d companies", site.name, day, len(result))
    return result


def write(store: Store, scores: Iterable[CompanyScore]) -> None:
    # One insert, so a run's rows become visible at once: an API client paging by
    # (changed_at, company_key) between two partial inserts could otherwise skip a company.
    store.insert_rows("company_scores", [c.row() for c in scores])
