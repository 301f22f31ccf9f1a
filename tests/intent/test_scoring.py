"""Scoring: hand-computed examples for the pure function, then real chDB snapshots."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from collector.settings import SiteConfig
from intent.rules import Rules, parse_rules
from intent.scoring import (
    Activity,
    VisitorDay,
    decay,
    fmt_points,
    score_company,
    score_site,
    snapshot,
    transition,
)
from intent.store import Store
from tests.conftest import LiveServer
from tests.intent.activity import event

D = date(2026, 3, 20)
RULES = Rules()


def ago(n: int) -> date:
    return D - timedelta(days=n)


Visit = tuple[str, date, frozenset[str], bool]


def visit(visitor: str, age: int, *signals: str, customer: bool = False) -> list[Visit]:
    """One visitor's signals on one day (`age` days before D)."""
    return [(visitor, ago(age), frozenset(signals), customer)]


def activity(visits: list[Visit]) -> Activity:
    """The rollup view of some visits: signals per visitor-day, visitors by last day seen."""
    per_day: dict[tuple[str, date], set[str]] = {}
    last: dict[str, date] = {}
    for visitor, day, signals, _ in visits:
        per_day.setdefault((visitor, day), set()).update(signals)
        last[visitor] = max(last.get(visitor, day), day)
    last_seen = Counter(last.values())
    return Activity(
        [VisitorDay(day, frozenset(sigs)) for (_, day), sigs in per_day.items() if sigs],
        dict(last_seen),
        sorted({day for _, day, _, _ in visits}),
        any(c for *_, c in visits),
    )


# --- pure scoring -----------------------------------------------------------------------------


def test_decay_halves_every_half_life() -> None:
    assert decay(0, 7) == 1.0
    assert decay(7, 7) == 0.5
    assert decay(14, 7) == 0.25


@pytest.mark.parametrize(
    ("age", "score", "when"), [(0, 10.0, "today"), (7, 5.0, "7 days ago"), (14, 2.5, "14 days ago")]
)
def test_one_pricing_visit_decays_with_age(age: int, score: float, when: str) -> None:
    s = score_company(RULES, activity(visit("v1", age, "pricing")), D)
    assert s.score == score
    assert s.reasons == ("1 visitor", f"pricing {when} ({fmt_points(score)})", "1 active day")
    assert s.tier == "cold"


def test_one_visitor_reloading_pricing_fifty_times_is_not_hot() -> None:
    s = score_company(RULES, activity(visit("v1", 0, "pricing") * 50), D)
    assert (s.score, s.tier) == (10.0, "cold")


def test_points_of_one_visitor_in_one_day_are_capped() -> None:
    # demo_request 20 + demo 15 + pricing 10 + webinar 10 = 55, capped to 40 (each keeps its share)
    s = score_company(
        RULES, activity(visit("v1", 0, "demo_request", "demo", "pricing", "webinar")), D
    )
    assert s.score == 40.0
    assert s.tier == "warm"
    assert s.reasons[1] == "demo_request today (+15)"  # 20 * 40/55 = 14.5


def test_breadth_adds_points_per_extra_visitor_up_to_the_cap() -> None:
    three = visit("a", 0, "pricing") + visit("b", 0, "pricing") + visit("c", 0, "pricing")
    s = score_company(RULES, activity(three), D)
    assert s.score == 40.0  # 3 x 10 + 2 extra visitors x 5
    assert s.reasons == ("3 visitors (+10)", "pricing ×3 (+30)", "1 active day")
    many = [h for v in "abcdefgh" for h in visit(v, 0, "blog")]
    s = score_company(RULES, activity(many), D)
    assert s.score == 28.0  # 8 x 1 + breadth capped at 20 (not 7 x 5 = 35)
    assert s.visitors == 8


def test_frequency_adds_decayed_points_per_extra_active_day() -> None:
    hits = visit("v1", 0, "pricing") + visit("v1", 1, "pricing") + visit("v1", 2, "pricing")
    s = score_company(RULES, activity(hits), D)
    # pricing 10 * (1 + 2^(-1/7) + 2^(-2/7)) = 10 * 2.726059 = 27.26
    # frequency 3 * (0.905724 + 0.820335) = 5.18
    assert s.score == 32.4
    assert s.reasons == ("1 visitor", "pricing ×3 (+27)", "3 active days (+5.2)")


def test_visitors_with_the_same_signals_on_a_day_may_be_counted_together() -> None:
    three = visit("a", 0, "pricing") + visit("b", 0, "pricing") + visit("c", 0, "pricing")
    grouped = Activity([VisitorDay(D, frozenset({"pricing"}), visitors=3)], {D: 3}, [D])
    assert score_company(RULES, grouped, D) == score_company(RULES, activity(three), D)


def test_hot_with_reasons_in_words_and_numbers() -> None:
    hits = (
        visit("a", 0, "pricing") + visit("b", 0, "pricing") + visit("c", 0, "pricing")
        + visit("a", 1, "demo_request")
    )  # fmt: skip
    s = score_company(RULES, activity(hits), D)
    # 30 + 20 * 0.905724 + breadth 2 x 5 (a's last day is today) + frequency 3 * 0.905724
    assert s.score == 60.8
    assert s.tier == "hot"
    assert s.reasons == (
        "3 visitors (+10)", "pricing ×3 (+30)", "demo_request yesterday (+18)", "2 active days (+2.7)",
    )  # fmt: skip


def test_hot_requires_a_recent_buying_signal() -> None:
    content = [h for v in "abcde" for h in visit(v, 0, "webinar", "case_studies", "ebook")]
    s = score_company(RULES, activity(content), D)
    assert s.score == 120.0  # 5 x 20 + breadth 20: far above hot, but no pricing/demo
    assert s.tier == "warm"
    assert s.reasons[-1] == "not hot: no demo_request/demo/pricing in 7 days"
    # a pricing visit 8 days ago is outside the 7-day window; 6 days ago is inside
    assert score_company(RULES, activity(content + visit("f", 8, "pricing")), D).tier == "warm"
    assert score_company(RULES, activity(content + visit("f", 6, "pricing")), D).tier == "hot"


def test_negative_signals_subtract_and_the_score_never_goes_below_zero() -> None:
    s = score_company(RULES, activity(visit("a", 0, "pricing") + visit("b", 0, "careers")), D)
    assert s.score == 5.0  # 10 - 10 + one extra visitor 5
    assert "careers today (-10)" in s.reasons
    assert score_company(RULES, activity(visit("a", 0, "careers")), D).score == 0.0


def test_customer_pages_flag_the_company() -> None:
    s = score_company(
        RULES, activity(visit("a", 0, "pricing") + visit("a", 0, "", customer=True)), D
    )
    assert s.is_customer
    assert s.reasons[-1] == "existing customer (login/app pages)"
    assert not score_company(RULES, activity(visit("a", 0, "pricing")), D).is_customer


def test_custom_rules_change_points_half_life_and_thresholds() -> None:
    rules = parse_rules({
        "half_life_days": 14, "hot": 15, "warm": 5,
        "signals": {"pricing": {"paths": ["/pricing*"], "points": 20, "buying": True}},
    })  # fmt: skip
    s = score_company(rules, activity(visit("a", 14, "pricing")), D)
    assert (s.score, s.tier) == (10.0, "warm")  # 20 halved after one 14-day half-life
    assert score_company(rules, activity(visit("a", 0, "pricing")), D).tier == "hot"


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
    assert acme.reasons[:3] == ["4 visitors (+15)", "pricing ×3 (+30)", "demo_request today (+20)"]
    assert (acme.visitors, acme.active_days, acme.company_name, acme.country) == (
        4,
        2,
        "Acme",
        "DE",
    )
    assert acme.top_pages == ["/pricing", "/blog/post"]
    assert (globex.tier, globex.transition, globex.previous_score) == ("hot", "still_hot", 85.0)
    assert globex.score == 77.0  # 85 x 2^(-1/7)

    third = {c.company_key: c for c in score_site(store, cfg, d3)}
    # eleven days later: 85 x 2^(-11/7) = 28.6, and no buying signal in 7 days
    assert (third["globex.com"].tier, third["globex.com"].transition) == ("warm", "cooling")

    stored = snapshot(store, site, d2)
    assert stored["acme.com"]["tier"] == "hot"
    assert stored["acme.com"]["transition"] == "newly_hot"
    assert list(stored["acme.com"]["reasons"]) == acme.reasons


def test_fifty_pricing_reloads_by_one_visitor_in_clickhouse_count_once(
    store: Store, site: str
) -> None:
    day = datetime.now(UTC).date() - timedelta(days=2)
    store.insert_rows(
        "events", [event(site, day, "reload.com", "r1", "/pricing") for _ in range(50)]
    )
    [reload] = score_site(store, site_config(site), day)
    assert (reload.score, reload.tier) == (10.0, "cold")
    assert reload.reasons == ["1 visitor", "pricing today (+10)", "1 active day"]


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
    assert wayne.reasons[0] == "1 visitor"
    assert snapshot(store, site, today)["wayne-enterprises.com"]["tier"] == "warm"
