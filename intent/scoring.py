"""Company scores: pure scoring of one company's rollup activity, and daily snapshots per site.

`score_company` is pure (rules + activity + day -> score, tier, reasons). `compute_scores` reads
only the rollups (`daily_activity`, `daily_companies`, `identities`, `attributions`) for the
rules' window and scores every company; `score_site` adds transitions against the previous
snapshot and writes the day's rows to `company_scores`. How the numbers work: docs/scoring.md.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from collector.site_settings import SiteConfig
from collector.store import Store, ch_time
from intent.accounts.matching import customer_stages
from intent.rules import Rules, parse_rules
from intent.score_words import buying_window, fmt_points, people, plural, when, with_points
from intent.scoring_sql import (
    COMPANY_FACTS,
    COMPANY_ROWS,
    PREVIOUS_DAY,
    SIGNAL_TOTALS,
    SNAPSHOT,
    TOP_PAGES_OF,
    VISIT_COUNTRIES,
    only,
    rule_params,
)

log = logging.getLogger("intent.scoring")

TIERS = ("hot", "warm", "cold")  # hottest first
TIER_RANK = {"": -1, "cold": 0, "warm": 1, "hot": 2}
# What `transition` writes besides '': the API's values (an enum in its spec) and webhooks' data.
TRANSITIONS = ("newly_hot", "still_hot", "newly_warm", "cooling")
TOP_PAGES = 5
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def transition(tier: str, previous: str) -> str:
    """newly_hot, newly_warm, cooling (tier dropped), still_hot, or ''."""
    if tier == "hot":
        return "still_hot" if previous == "hot" else "newly_hot"
    if TIER_RANK[tier] < TIER_RANK.get(previous, -1):
        return "cooling"
    if tier == "warm" and previous in ("", "cold"):
        return "newly_warm"
    return ""


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
    is_customer: bool = False  # customer pages/events in the window, or a CRM stage `customer`
    # the latest buying signal in the window (EPOCH: none): the rep's order reads it
    buying_at: datetime = EPOCH
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
        for k in (
            "first_seen",
            "last_seen",
            "buying_at",
            "changed_at",
            "computed_at",
            "evidence_at",
        ):
            out[k] = ch_time(getattr(self, k))
        return out


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def rules_of(site: SiteConfig) -> Rules:
    """The site's rules, parsed from its [sites.NAME.rules] table (intent.settings checked it at
    start-up); a SiteConfig built in code may carry parsed Rules already."""
    rules: object = site.rules
    return rules if isinstance(rules, Rules) else parse_rules(site.rules)


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
    buying_at: dict[str, datetime] = {}
    for ck, sig, visitor_days, weight, latest_age, customer, buying in store.query(
        SIGNAL_TOTALS, params
    ):
        if sig:
            signals[ck].append(SignalTotal(names[sig - 1], visitor_days, weight, latest_age))
        if customer:
            customers.add(ck)
        buying_at[ck] = max(buying_at.get(ck, EPOCH), _utc(buying))
    facts = {r["company_key"]: r for r in store.query_dicts(COMPANY_FACTS, params)}
    top = dict(store.query(TOP_PAGES_OF, params))
    rows = store.query(COMPANY_ROWS, params)
    countries = visit_countries(store, params, [r[0] for r in rows], facts)

    out = []
    for ck, visitors, breadth_w, days, extra_d, first, last in rows:
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
                country=f.get("country") or countries.get(ck, ""),
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
                buying_at=buying_at.get(ck, EPOCH),
            )
        )
    out.sort(key=lambda c: (-c.score, c.company_key))
    return out


def visit_countries(
    store: Store,
    params: Mapping[str, Any],
    companies: Iterable[str],
    facts: Mapping[str, Mapping[str, Any]],
) -> dict[str, str]:
    """The country the visits came from of each company whose facts have none (VISIT_COUNTRIES):
    one query, for those companies only; none when every company has its country."""
    missing = [ck for ck in companies if not facts.get(ck, {}).get("country")]
    if not missing:
        return {}
    return dict(store.query(VISIT_COUNTRIES, {**params, **only(missing)}))


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
    evidence: Mapping[str, Evidence] | Callable[[], Mapping[str, Evidence]] | None = None,
) -> list[CompanyScore]:
    """Score every company of a site for `day` (or only `companies`, the incremental run) and
    write those snapshot rows. `evidence` may be a function, asked once the events are read:
    what reached ClickHouse while they were read is scored, so its evidence is known then."""
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # DateTime64(3) keeps ms
    scores = compute_scores(store, site.name, rules_of(site), day, companies=companies)
    if callable(evidence):
        evidence = evidence()
    mark_crm_customers(store, site.name, scores)
    previous = previous_snapshot(store, site.name, day, companies)
    same_day = snapshot(store, site.name, day, companies)
    result = with_history(site.name, day, scores, previous, same_day, now, evidence)
    write(store, result)
    if companies is None:
        log.info("scored %s for %s: %d companies", site.name, day, len(result))
    return result


def mark_crm_customers(store: Store, site: str, scores: Sequence[CompanyScore]) -> None:
    """A company whose CRM account's stage is `customer` (intent.accounts) is an existing
    customer, as one seen on customer pages is: listed apart, never counted as a prospect."""
    pairs = [(c.company_domain, c.company_name) for c in scores]
    for c, stage in zip(scores, customer_stages(store, site, pairs), strict=True):
        if stage:
            c.is_customer = True
            c.reasons.append(f"existing customer (CRM stage {stage})")


def write(store: Store, scores: Iterable[CompanyScore]) -> None:
    # One insert, so a run's rows become visible at once: an API client paging by
    # (changed_at, company_key) between two partial inserts could otherwise skip a company.
    store.insert_rows("company_scores", [c.row() for c in scores])
