"""Incremental scoring: the daily run's queries restricted to marked companies give exactly the
daily run's numbers; marking decides from the rules; the real server re-scores a company within
seconds of its decisive event and fires its webhook once, whichever run noticed first."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks import Webhook

from collector.settings import Settings
from collector.site_settings import SiteConfig
from collector.store import Store
from intent import webhooks
from intent.alerts.marks import ALERT_EVENT, BUYING, IDENTIFY, NEAR, SiteMarking
from intent.alerts.rescorer import Rescorer
from intent.rules import parse_rules
from intent.scoring import Evidence, compute_scores, score_site, snapshot
from intent.server import Server
from tests.conftest import CHROME_UA, LiveServer, SettingsFactory, wait_until
from tests.intent.activity import event
from tests.intent.test_webhooks import SECRET, Receiver, hook_toml, receiver  # noqa: F401

TODAY = datetime.now(UTC).date()
PATHS = ("/", "/pricing", "/demo", "/blog/a", "/careers", "/case-studies/x", "/webinar", "/app")
EVENTS = ("demo_request", "webinar_signup", "login", "newsletter")


def history(site: str, seed: int) -> list[dict[str, Any]]:
    """Thirty days of mixed traffic from 40 companies, anonymous visitors identifying later."""
    rng = random.Random(seed)
    rows = []
    for n in range(40):
        company = f"c{n}.example"
        for v in range(rng.randint(1, 5)):
            visitor = f"{company}-v{v}"
            for _ in range(rng.randint(1, 12)):
                day = TODAY - timedelta(days=rng.randint(0, 29))
                hour = rng.randint(0, 23)
                anonymous = rng.random() < 0.2
                ck = "" if anonymous else company
                if rng.random() < 0.15:
                    rows.append(event(site, day, ck, visitor, name=rng.choice(EVENTS), hour=hour))
                else:
                    rows.append(event(site, day, ck, visitor, rng.choice(PATHS), hour=hour))
            if rng.random() < 0.3:
                rows.append(event(site, TODAY, company, visitor, type_="identify", hour=1))
    return rows


def test_incremental_scores_equal_the_full_run_exactly(store: Store, site: str) -> None:
    store.insert_rows("events", history(site, seed=15))
    rules = parse_rules({})
    full = {c.company_key: c for c in compute_scores(store, site, rules, TODAY)}
    assert len(full) == 40 and {c.tier for c in full.values()} == {"hot", "warm", "cold"}
    marked = sorted(full)[::3]
    some = {c.company_key: c for c in compute_scores(store, site, rules, TODAY, companies=marked)}
    assert sorted(some) == marked
    for key in marked:  # every field: score, tier, reasons, visitors, days, pages, names
        assert some[key] == full[key], key
    one = compute_scores(store, site, rules, TODAY, companies=["c7.example"])
    assert one == [full["c7.example"]]
    assert compute_scores(store, site, rules, TODAY, companies=[]) == []


def test_incremental_snapshot_rows_match_the_full_runs_and_keep_evidence(
    store: Store, site: str
) -> None:
    store.insert_rows("events", history(site, seed=16))
    cfg = SiteConfig(name=site, domains=("example.com",))
    yesterday = TODAY - timedelta(days=1)
    score_site(store, cfg, yesterday)  # the previous snapshot transitions are measured against
    full = {c.company_key: c for c in score_site(store, cfg, TODAY)}
    at = datetime.now(UTC).replace(microsecond=0)
    proof = {"c3.example": Evidence("demo_request", "/demo", at)}
    [part] = score_site(store, cfg, TODAY, companies=["c3.example"], evidence=proof)
    same = full["c3.example"]
    assert (part.score, part.tier, part.reasons, part.transition, part.previous_tier) == (
        same.score, same.tier, same.reasons, same.transition, same.previous_tier)  # fmt: skip
    assert part.changed_at == same.changed_at  # nothing changed
    stored = snapshot(store, site, TODAY)["c3.example"]
    assert (stored["evidence_event"], stored["evidence_path"]) == ("demo_request", "/demo")
    again = {c.company_key: c for c in score_site(store, cfg, TODAY)}  # the hourly run
    assert (again["c3.example"].evidence_event, again["c3.example"].evidence_at) == (
        "demo_request", at)  # fmt: skip
    assert again["c4.example"].evidence_event == ""


def test_a_stronger_mark_whose_event_was_scored_meanwhile_is_the_evidence(
    store: Store, site: str, make_settings: SettingsFactory
) -> None:
    """A pass takes a pricing page's mark; the demo request just after it reaches ClickHouse
    while the pass reads the events, so it is scored too: it, not the page, is the trigger."""
    rescorer = Rescorer(make_settings(site), store, writer=None, after=[])
    cfg, marks = rescorer.settings.sites[site], rescorer.marking[site]
    pricing = event(site, TODAY, "wayne.example", "bob", "/pricing", hour=0)
    demo = {**event(site, TODAY, "wayne.example", "bob", "/demo", name="demo_request", hour=0),
            "ts": pricing["ts"].replace(":00.000", ":05.000")}  # fmt: skip
    store.insert_rows("events", [pricing, demo])
    taken, waiting = marks.mark(pricing), marks.mark(demo)
    assert taken is not None and waiting is not None and waiting.stronger_than(taken)
    rescorer.marks.add([waiting])  # arrived after the pass took its marks
    [scored] = rescorer.score(cfg, [taken])
    assert (scored.evidence_event, scored.evidence_path) == ("demo_request", "/demo")
    assert len(rescorer.marks) == 1  # still waiting for its own pass (no news twice: ids)


def marking(alerts: dict[str, Any] | None = None) -> SiteMarking:
    return SiteMarking(SiteConfig(name="m", domains=("example.com",), alerts=alerts))


def row(company: str, path: str = "/", name: str = "", type_: str = "pageview") -> dict[str, Any]:
    return {"site": "m", "company_key": company, "visitor_id": "v1", "path": path,
            "type": "event" if name else type_, "name": name, "ts": "2026-03-02 10:00:00.250"}  # fmt: skip


def test_what_marks_a_company() -> None:
    m = marking({"on": ["became_hot", "webinar_signup"]})
    assert m.why(row("a.com", name="webinar_signup")) == ALERT_EVENT
    assert m.why(row("a.com", "/pricing/team")) == BUYING
    assert m.why(row("", "/DEMO")) == BUYING  # anonymous: its visitor is resolved later
    assert m.why(row("a.com", name="demo_request")) == BUYING
    assert m.why(row("a.com", type_="identify")) == IDENTIFY
    assert m.why(row("a.com", "/blog/x")) == 0  # a new company's blog post cannot make it warm
    assert m.why(row("a.com", "/pricing", type_="engagement")) == 0
    m.remember([("a.com", 14.0, "cold"), ("b.com", 44.0, "warm"), ("c.com", 30.0, "warm"),
                ("h.com", 90.0, "hot")])  # fmt: skip
    assert m.why(row("a.com", "/blog/x")) == NEAR  # 14 + 1 + breadth 5 + frequency 3 >= 20
    assert m.why(row("b.com", "/")) == NEAR  # 44 + 8 >= 50
    assert m.why(row("c.com", "/")) == 0  # 30 + 8 < 50
    assert m.why(row("h.com", "/webinar")) == 0  # already hot
    mark = m.mark(row("a.com", "/demo"))
    assert mark is not None and mark.evidence == Evidence(
        "pageview", "/demo", datetime(2026, 3, 2, 10, 0, 0, 250000, tzinfo=UTC)
    )


def post_as(live: LiveServer, ua: str, *beacons: dict[str, Any]) -> None:
    response = live.post(list(beacons), ua=ua)
    assert response.status_code == 202, response.text


URL = "https://example.com"


def warm_company(live: LiveServer, site: str, domain: str) -> None:
    """One person of `domain` on the pricing and demo pages: 25, warm."""
    url = URL
    post_as(live, CHROME_UA + " one", {"site": site, "type": "identify", "email": f"jane@{domain}", "url": url},
            {"site": site, "url": f"{url}/pricing"}, {"site": site, "url": f"{url}/demo"})  # fmt: skip


def hot_company(live: LiveServer, site: str, domain: str) -> None:
    """A second person of a warm `domain`: pricing, then a demo request (the decisive event):
    25 + 30 + breadth 5 = 60, hot."""
    url = URL
    post_as(live, CHROME_UA + " two", {"site": site, "type": "identify", "email": f"bob@{domain}", "url": url},
            {"site": site, "url": f"{url}/pricing"})  # fmt: skip
    post_as(live, CHROME_UA + " two",
            {"site": site, "type": "event", "name": "demo_request", "url": f"{url}/demo"})  # fmt: skip


def test_a_demo_request_reaches_the_webhook_within_the_pass_and_only_once(
    make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer], store: Store,
    site: str, receiver: Receiver,  # noqa: F811
) -> None:  # fmt: skip
    settings = make_settings(toml=hook_toml(site, receiver.url))
    live = serve(settings)
    assert isinstance(live.collector, Server)
    rescorer = live.collector.rescorer
    assert rescorer is not None
    warm_company(live, site, "wayne.example")
    assert wait_until(lambda: any(b"became_warm" in body for _, _, body in receiver.got))
    hot_company(live, site, "wayne.example")
    assert wait_until(lambda: any(b"became_hot" in body for _, _, body in receiver.got))
    # Warm after the first person's pages (25), hot after the demo request: each news once.
    got = [Webhook(SECRET).verify(body, headers) for _, headers, body in receiver.got]
    assert sorted(m["type"] for m in got) == ["company.became_hot", "company.became_warm"]
    [message] = [m for m in got if m["type"] == "company.became_hot"]
    assert message["data"]["company"]["key"] == "wayne.example"
    assert message["data"]["company"]["score"] == 60.0
    trigger = message["data"]["trigger"]
    assert (trigger["event"], trigger["path"], trigger["at"][-1]) == ("demo_request", "/demo", "Z")

    def evidence() -> tuple[str, ...]:
        row = snapshot(store, site, TODAY)["wayne.example"]
        return (row["tier"], row["transition"], row["evidence_event"], row["evidence_path"])

    assert wait_until(lambda: evidence() == ("hot", "newly_hot", "demo_request", "/demo"))
    # The hourly run notices the same transition: nothing new is queued.
    scores = score_site(store, settings.sites[site], TODAY)
    assert webhooks.enqueue(store, settings.sites[site], scores) == 0
    assert rescorer.passes >= 1
    assert len(receiver.got) == 2
