"""Scoring: hand-computed examples through real ClickHouse (decay and caps are summed in SQL),
the pure tiering and wording, and daily snapshots with transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from collector.site_settings import SiteConfig
from collector.store import Store
from intent.accounts.fields import AccountUpdate
from intent.accounts.table import upsert
from intent.rules import Rules, parse_rules
from intent.score_words import fmt_points, score_label
from intent.scoring import (
    Activity,
    CompanyScore,
    SignalTotal,
    compute_scores,
    score_company,
    score_site,
    snapshot,
    transition,
)
from tests.conftest import LiveServer
from tests.intent.activity import event

RULES = Rules()
D = datetime.now(UTC).date() - timedelta(days=1)  # the day scored; history before it


def visit(company: str, visitor: str, age: int, *what: str) -> list[dict[str, Any]]:
    """One visitor's page views ('/path') and custom events ('name') `age` days before D."""
    day = D - timedelta(days=age)
    return [
        event("", day, company, visitor, w)
        if w.startswith("/")
        else event("", day, company, visitor, name=w)
        for w in what
    ]


def scores_of(
    store: Store, site: str, rows: list[dict[str, Any]], rules: Rules = RULES
) -> dict[str, CompanyScore]:
    store.insert_rows("events", [{**r, "site": site} for r in rows])
    return {c.company_key: c for c in compute_scores(store, site, rules, D)}


# --- hand-computed examples, summed by ClickHouse from real rollups ----------------------------


def test_points_decay_by_half_every_half_life(store: Store, site: str) -> None:
    s = scores_of(
        store,
        site,
        visit("now.com", "a", 0, "/pricing") + visit("week.com", "b", 7, "/pricing")
        + visit("fortnight.com", "c", 14, "/pricing"),
    )  # fmt: skip
    assert (s["now.com"].score, s["week.com"].score, s["fortnight.com"].score) == (10.0, 5.0, 2.5)
    assert s["now.com"].reasons == ["1 person", "pricing today (+10)", "1 active day"]
    assert s["week.com"].reasons == ["1 person", "pricing 7 days ago (+5)", "1 active day"]
    assert s["fortnight.com"].reasons[1] == "pricing 14 days ago (+2.5)"
    assert all(c.tier == "cold" for c in s.values())


def test_one_visitor_reloading_pricing_fifty_times_is_not_hot(store: Store, site: str) -> None:
    s = scores_of(store, site, visit("reload.com", "r1", 0, *["/pricing"] * 50))
    assert (s["reload.com"].score, s["reload.com"].tier) == (10.0, "cold")
    assert s["reload.com"].reasons == ["1 person", "pricing today (+10)", "1 active day"]


def test_points_of_one_visitor_in_one_day_are_capped(store: Store, site: str) -> None:
    # demo_request 20 + demo 15 + pricing 10 + webinar 10 = 55, capped to 40; each keeps its share
    s = scores_of(
        store, site, visit("cap.com", "v1", 0, "demo_request", "/demo", "/pricing", "/webinar")
    )
    assert (s["cap.com"].score, s["cap.com"].tier) == (40.0, "warm")
    assert s["cap.com"].reasons[1] == "demo_request today (+15)"  # 20 x 40/55 = 14.5


def test_breadth_adds_points_per_extra_visitor_up_to_the_cap(store: Store, site: str) -> None:
    rows = [r for v in ("a", "b", "c") for r in visit("three.com", v, 0, "/pricing")]
    rows += [r for v in "abcdefgh" for r in visit("eight.com", v, 0, "/blog/post")]
    s = scores_of(store, site, rows)
    assert s["three.com"].score == 40.0  # 3 x 10 + 2 extra visitors x 5
    assert s["three.com"].reasons == ["3 people (+10)", "pricing ×3 (+30)", "1 active day"]
    assert s["eight.com"].score == 28.0  # 8 x 1 + breadth capped at 20 (not 7 x 5 = 35)
    assert s["eight.com"].visitors == 8


def test_breadth_counts_the_most_people_on_one_day_not_visitor_days(
    store: Store, site: str
) -> None:
    """Visitor ids are salted per day, so one person on six days is six ids: breadth counts the
    most distinct visitors seen on one day, and frequency alone rewards the repeat visits."""
    rows = [r for age in range(6) for r in visit("globex.com", f"p1-{age}", age, "/pricing")]
    rows += visit("globex.com", "p2-3", 3, "/pricing")  # a second person, three days ago
    rows += [r for age in range(15) for r in visit("customer.com", f"c-{age}", age, "/blog/x")]
    s = scores_of(store, site, rows)
    globex, customer = s["globex.com"], s["customer.com"]
    assert (globex.visitors, globex.active_days) == (2, 6)
    # breadth: the one extra person on one day, 5 x 2^(-3/7) = 3.7 (not 6 "extra visitors" x 5)
    assert globex.reasons[0] == "up to 2 people on one day (+3.7)"
    assert globex.reasons[-1] == "6 active days (+11)"  # 3 x sum(2^(-a/7), a = 1..5) = 11.3
    assert (customer.visitors, customer.active_days) == (1, 15)
    assert customer.reasons[0] == "1 person a day"  # no breadth: one person at a time
    assert customer.reasons[-1] == "15 active days (+15)"


def test_frequency_adds_decayed_points_per_extra_active_day(store: Store, site: str) -> None:
    rows = visit("freq.com", "v1", 0, "/pricing") + visit("freq.com", "v1", 1, "/pricing")
    rows += visit("freq.com", "v1", 2, "/pricing")
    s = scores_of(store, site, rows)["freq.com"]
    # pricing 10 x (1 + 2^(-1/7) + 2^(-2/7)) = 10 x 2.726059 = 27.26
    # frequency 3 x (0.905724 + 0.820335) = 5.18
    assert s.score == 32.4
    assert s.reasons == ["1 person a day", "pricing ×3 (+27)", "3 active days (+5.2)"]


def test_hot_with_reasons_in_words_and_numbers(store: Store, site: str) -> None:
    rows = [r for v in ("a", "b", "c") for r in visit("hot.com", v, 0, "/pricing")]
    rows += visit("hot.com", "a", 1, "demo_request")
    s = scores_of(store, site, rows)["hot.com"]
    # 30 + 20 x 2^(-1/7) + breadth 2 x 5 (3 people today) + frequency 3 x 2^(-1/7)
    assert (s.score, s.tier) == (60.8, "hot")
    assert s.reasons == [
        "up to 3 people on one day (+10)", "pricing ×3 (+30)", "demo_request yesterday (+18)", "2 active days (+2.7)",
    ]  # fmt: skip


def test_hot_requires_a_recent_buying_signal(store: Store, site: str) -> None:
    def content(company: str) -> list[dict[str, Any]]:
        pages = ("/webinar/q3", "/case-studies/acme", "/ebook/guide")
        return [r for v in "abcde" for r in visit(company, v, 0, *pages)]

    s = scores_of(
        store,
        site,
        content("content.com") + content("old.com") + visit("old.com", "f", 8, "/pricing")
        + content("recent.com") + visit("recent.com", "f", 6, "/pricing"),
    )  # fmt: skip
    assert (s["content.com"].score, s["content.com"].tier) == (120.0, "warm")  # 5 x 20 + 20
    assert s["content.com"].reasons[-1] == (
        "not hot: no demo_request/demo/pricing, hot needs one at most 6 days ago"
    )
    assert s["old.com"].tier == "warm"  # pricing 8 days ago is outside the 7-day window
    assert s["recent.com"].tier == "hot"  # 6 days ago is inside


def test_negative_signals_subtract_and_the_score_never_goes_below_zero(
    store: Store, site: str
) -> None:
    rows = visit("mixed.com", "a", 0, "/pricing") + visit("mixed.com", "b", 0, "/careers")
    rows += visit("jobs.com", "a", 0, "/careers", "/jobs/dev")
    s = scores_of(store, site, rows)
    assert s["mixed.com"].score == 5.0  # 10 - 10 + one extra visitor 5
    assert "careers today (-10)" in s["mixed.com"].reasons
    assert s["jobs.com"].score == 0.0


def test_customer_pages_and_events_flag_the_company(store: Store, site: str) -> None:
    rows = visit("cust.com", "a", 0, "/pricing", "/app/dashboard") + visit(
        "login.com", "a", 3, "login"
    )
    rows += visit("prospect.com", "a", 0, "/pricing", "/apple")
    s = scores_of(store, site, rows)
    assert s["cust.com"].is_customer and s["login.com"].is_customer
    assert s["cust.com"].reasons[-1] == "existing customer (login/app pages)"
    assert not s["prospect.com"].is_customer


def test_custom_rules_change_points_half_life_and_thresholds(store: Store, site: str) -> None:
    rules = parse_rules({
        "half_life_days": 14, "hot": 15, "warm": 5, "cap_per_visitor_day": 100,
        "signals": {"pricing": {"paths": ["/pricing*"], "points": 20, "buying": True}},
    })  # fmt: skip
    rows = visit("slow.com", "a", 14, "/pricing") + visit("fast.com", "a", 0, "/pricing")
    s = scores_of(store, site, rows, rules)
    assert (s["slow.com"].score, s["slow.com"].tier) == (10.0, "warm")  # 20 halved after 14 days
    assert (s["fast.com"].score, s["fast.com"].tier) == (20.0, "hot")


# --- pure: tiers and words from summed activity -------------------------------------------------


def test_tier_and_reasons_from_totals() -> None:
    pricing = SignalTotal("pricing", visitor_days=4, weight=3.2, latest_age=0)
    demo = SignalTotal("demo_request", visitor_days=1, weight=1.0, latest_age=1)
    s = score_company(RULES, Activity([pricing, demo], 3, 2.0, 4, 1.5, False))
    assert (s.score, s.tier) == (66.5, "hot")  # 32 + 20 + breadth 10 + frequency 4.5
    assert s.reasons == (
        "up to 3 people on one day (+10)", "pricing ×4 (+32)", "demo_request yesterday (+20)", "4 active days (+4.5)",
    )  # fmt: skip
    stale = SignalTotal("pricing", visitor_days=4, weight=6.0, latest_age=7)
    assert score_company(RULES, Activity([stale], 1, 0, 1, 0, False)).tier == "warm"
    capped = score_company(RULES, Activity([], 20, 19.0, 30, 29.0, False))
    assert capped.score == 35.0  # breadth capped at 20, frequency at 15


def test_not_hot_names_the_last_buying_signal_and_the_window_in_agreeing_words() -> None:
    # The window is days 0-6 ("7 days, today included"): a demo request 7 days ago is outside,
    # and the words must not read "demo_request 7 days ago" next to "none in 7 days".
    stale = SignalTotal("demo_request", visitor_days=3, weight=3.0, latest_age=7)
    s = score_company(RULES, Activity([stale], 3, 2.0, 3, 1.0, False))
    assert (s.score, s.tier) == (73.0, "warm")
    assert s.reasons[1] == "demo_request ×3 (+60)"
    assert s.reasons[-1] == (
        "not hot: last demo_request/demo/pricing 7 days ago, hot needs one at most 6 days ago"
    )
    content = SignalTotal("webinar", visitor_days=6, weight=6.0, latest_age=0)
    s = score_company(RULES, Activity([content], 3, 2.0, 3, 1.0, False))
    assert (
        s.reasons[-1] == "not hot: no demo_request/demo/pricing, hot needs one at most 6 days ago"
    )
    today_only = parse_rules({"buying_window_days": 1})
    s = score_company(today_only, Activity([stale], 3, 2.0, 3, 1.0, False))
    assert s.reasons[-1].endswith("7 days ago, hot needs one today")
    two_days = parse_rules({"buying_window_days": 2})
    s = score_company(two_days, Activity([stale], 3, 2.0, 3, 1.0, False))
    assert s.reasons[-1].endswith("hot needs one today or yesterday")


def test_score_label_puts_the_scale_beside_the_score() -> None:
    assert score_label(131, RULES) == "131 · hot ≥ 50"
    assert score_label(50, RULES) == "50 · hot ≥ 50"
    assert score_label(38.44, RULES) == "38.4 · hot ≥ 50"  # warm: how far from hot
    assert score_label(12, RULES) == "12 · warm ≥ 20"  # cold: how far from warm
    assert score_label(0, RULES) == "0 · warm ≥ 20"
    custom = parse_rules({"hot": 40.5, "warm": 10})
    assert score_label(41.25, custom) == "41.2 · hot ≥ 40.5"


def test_points_are_shown_whole_from_ten_and_with_one_decimal_below() -> None:
    assert [fmt_points(x) for x in (32.4, 9.96, 7.44, 2.0, 0.7, -10.0, -2.5)] == [
        "+32", "+10", "+7.4", "+2", "+0.7", "-10", "-2.5",
    ]  # fmt: skip


def test_transitions() -> None:
    assert transition("hot", "") == "newly_hot"
    assert transition("hot", "warm") == "newly_hot"
    assert transition("hot", "hot") == "still_hot"
    assert transition("warm", "cold") == "newly_warm"
    assert transition("warm", "") == "newly_warm"
    assert transition("warm", "hot") == "cooling"
    assert transition("cold", "warm") == "cooling"
    assert transition("warm", "warm") == ""
    assert transition("cold", "") == ""


# --- snapshots in real ClickHouse ---------------------------------------------------------------


def site_config(name: str, rules: dict[str, Any] | None = None) -> SiteConfig:
    return SiteConfig(name=name, domains=("example.com",), rules=parse_rules(rules or {}))


def test_score_site_writes_snapshots_with_transitions_across_days(store: Store, site: str) -> None:
    d1 = datetime.now(UTC).date() - timedelta(days=20)
    d2 = d1 + timedelta(days=1)
    d3 = d2 + timedelta(days=10)
    rows = [event(site, d1, "acme.com", "a1", "/blog/post")]
    for v in ("g1", "g2", "g3"):  # globex: 3 people on pricing and demo pages on day 1
        rows += [
            event(site, d1, "globex.com", v, "/pricing"),
            event(site, d1, "globex.com", v, "/demo"),
        ]
        rows += [event(site, d1, "globex.com", v, "/pricing", hour=13)]
    for v in ("x1", "x2", "x3"):  # acme: 3 people on pricing on day 2, one requests a demo
        rows += [event(site, d2, "acme.com", v, "/pricing")]
    rows += [event(site, d2, "acme.com", "x1", name="demo_request")]
    rows += [event(site, d2, "", "anon", "/pricing")]  # no company: not scored
    store.insert_rows("events", rows)
    cfg = site_config(site)

    first = {c.company_key: c for c in score_site(store, cfg, d1)}
    assert set(first) == {"acme.com", "globex.com"}
    assert (first["globex.com"].tier, first["globex.com"].transition) == ("hot", "newly_hot")
    assert first["globex.com"].score == 85.0  # 3 x (10 + 15) + breadth 10
    assert (first["acme.com"].tier, first["acme.com"].transition) == ("cold", "")

    second = {c.company_key: c for c in score_site(store, cfg, d2)}
    acme, globex = second["acme.com"], second["globex.com"]
    assert (acme.tier, acme.transition, acme.previous_tier) == ("hot", "newly_hot", "cold")
    assert acme.reasons[:3] == [
        "up to 3 people on one day (+10)", "pricing ×3 (+30)", "demo_request today (+20)",
    ]  # fmt: skip
    assert (acme.visitors, acme.active_days, acme.company_name, acme.country) == (
        3,
        2,
        "Acme",
        "DE",
    )
    assert acme.top_pages == ["/pricing", "/blog/post"]
    assert (globex.tier, globex.transition, globex.previous_score) == ("hot", "still_hot", 85.0)
    assert globex.score == 77.0  # 85 x 2^(-1/7)

    third = {c.company_key: c for c in score_site(store, cfg, d3)}
    # eleven days later: 85 x 2^(-11/7) = 28.6, and no buying signal 0-6 days ago
    assert (third["globex.com"].tier, third["globex.com"].transition) == ("warm", "cooling")

    # forty days on, nothing is left in the 30-day window: one cold "cooling" row, then nothing
    d4 = d1 + timedelta(days=40)
    gone = {c.company_key: c for c in score_site(store, cfg, d4)}
    assert (gone["globex.com"].tier, gone["globex.com"].transition) == ("cold", "cooling")
    assert gone["globex.com"].reasons == ["no visits in the scoring window"]
    assert third["acme.com"].tier == "warm" and gone["acme.com"].transition == "cooling"
    assert score_site(store, cfg, d4 + timedelta(days=1)) == []

    stored = snapshot(store, site, d2)
    assert stored["acme.com"]["tier"] == "hot"
    assert stored["acme.com"]["transition"] == "newly_hot"
    assert list(stored["acme.com"]["reasons"]) == acme.reasons


def test_rescoring_unchanged_keeps_changed_at(store: Store, site: str) -> None:
    day = datetime.now(UTC).date() - timedelta(days=3)
    store.insert_rows("events", [event(site, day, "initech.com", "i1", "/pricing")])
    cfg = site_config(site)
    [first] = score_site(store, cfg, day)
    [again] = score_site(store, cfg, day)
    assert again.changed_at == first.changed_at
    assert again.computed_at > first.computed_at
    stored = snapshot(store, site, day)["initech.com"]
    assert stored["changed_at"].replace(tzinfo=UTC) == first.changed_at
    # new activity the same day changes the score, so changed_at moves
    store.insert_rows("events", [event(site, day, "initech.com", "i2", "/demo")])
    [changed] = score_site(store, cfg, day)
    assert changed.score > first.score
    assert changed.changed_at > first.changed_at


def test_identified_visitors_anonymous_pages_count_for_their_company(
    store: Store, site: str
) -> None:
    day = datetime.now(UTC).date() - timedelta(days=2)
    store.insert_rows("events", [
        event(site, day, "", "v9", "/pricing", domain=""),
        event(site, day, "", "v9", "/demo", domain=""),
        event(site, day, "umbrella.com", "v9", type_="identify", hour=14),
    ])  # fmt: skip
    [umbrella] = score_site(store, site_config(site), day)
    assert umbrella.company_key == "umbrella.com"
    assert umbrella.score == 25.0
    assert "demo today (+15)" in umbrella.reasons


def test_customers_are_flagged_and_never_transition(store: Store, site: str) -> None:
    day = datetime.now(UTC).date() - timedelta(days=1)
    rows = [
        event(site, day, "hooli.com", v, p)
        for v in ("h1", "h2", "h3")
        for p in ("/pricing", "/demo")
    ]
    rows += [event(site, day, "hooli.com", "h1", "/app/dashboard")]
    store.insert_rows("events", rows)
    [hooli] = score_site(store, site_config(site), day)
    assert hooli.is_customer and hooli.tier == "hot"
    assert hooli.transition == ""
    assert snapshot(store, site, day)["hooli.com"]["is_customer"] == 1


def test_a_crm_customer_is_a_customer_and_never_transitions(store: Store, site: str) -> None:
    day = datetime.now(UTC).date() - timedelta(days=1)
    store.insert_rows("events", [
        event(site, day, company, v, p)
        for company in ("hooli.com", "pied.com") for v in ("h1", "h2") for p in ("/pricing", "/demo")
    ])  # fmt: skip
    upsert(store, site, [
        AccountUpdate("hooli.com", {"name": "Hooli", "stage": "Customer - Direct"}),
        AccountUpdate("pied.com", {"name": "Pied", "stage": "Opportunity"}),
    ])  # fmt: skip
    s = {c.company_key: c for c in score_site(store, site_config(site), day)}
    assert s["hooli.com"].is_customer and s["hooli.com"].transition == ""
    assert s["hooli.com"].reasons[-1] == "existing customer (CRM stage Customer - Direct)"
    assert not s["pied.com"].is_customer and s["pied.com"].transition == "newly_hot"


def test_buying_at_is_the_latest_buying_signal_of_the_window(store: Store, site: str) -> None:
    s = scores_of(
        store, site,
        [event("", D - timedelta(days=2), "a.com", "v1", "/pricing", hour=9),
         event("", D, "a.com", "v2", "/blog/x", hour=15),  # not a buying signal
         event("", D - timedelta(days=1), "a.com", "v3", name="demo_request", hour=11),
         event("", D, "b.com", "v4", "/blog/y", hour=10)],
    )  # fmt: skip
    yesterday = D - timedelta(days=1)
    assert s["a.com"].buying_at == datetime(
        yesterday.year, yesterday.month, yesterday.day, 11, tzinfo=UTC
    )
    assert s["b.com"].buying_at == datetime(1970, 1, 1, tzinfo=UTC)


def test_events_posted_through_the_collector_are_scored(
    server: LiveServer, store: Store, site: str
) -> None:
    """End to end: beacons -> pipeline -> events -> rollups -> score. The collector stamps server
    time, and identify gives the company (its anonymous pages are attributed to it)."""
    url = "https://example.com"
    beacons: list[dict[str, str]] = [
        {"type": "pageview", "url": f"{url}/pricing"},
        {"type": "pageview", "url": f"{url}/demo"},
        {"type": "pageview", "url": f"{url}/blog/intent"},
        {"type": "event", "name": "demo_request", "url": f"{url}/demo"},
        {"type": "identify", "email": "jane@wayne-enterprises.com", "url": f"{url}/demo"},
    ]
    for b in beacons:
        assert server.post({"site": site, **b}).status_code == 202
    server.flush()
    today = datetime.now(UTC).date()
    scores = score_site(store, server.collector.settings.sites[site], today)
    [wayne] = [c for c in scores if c.company_key == "wayne-enterprises.com"]
    # demo_request 20 + demo 15 + pricing 10 + blog 1 = 46, capped at 40 for one visitor in a day
    assert wayne.score == 40.0
    assert wayne.tier == "warm"
    assert wayne.transition == "newly_warm"
    assert wayne.reasons[0] == "1 person"
    assert snapshot(store, site, today)["wayne-enterprises.com"]["tier"] == "warm"
