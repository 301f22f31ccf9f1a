"""Realistic rows for the dashboard tests: scored companies and the events behind them, written
straight into the real tables (company_scores as the scoring run writes it; events so the
materialized rollups fill as they do in production)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from collector.store import Store
from intent import users

PASSWORD = "correct horse battery staple"


@dataclass
class Company:
    key: str
    name: str
    domain: str
    country: str
    tier: str
    scores: list[float]  # oldest first, one per day ending today
    reasons: list[str]
    visitors: int = 2
    transition: str = ""
    pages: list[tuple[str, str]] = field(
        default_factory=lambda: [("/pricing", "Pricing"), ("/", "Home")]
    )
    events: list[str] = field(default_factory=list)
    referrer: str = "https://www.google.com/"
    source: str = "maxmind"
    traffic_class: str = "business"


REALISTIC = [
    Company(
        "acme.com",
        "Acme Corporation",
        "acme.com",
        "US",
        "hot",
        [4, 9, 18, 26, 41, 58],
        ["4 visitors", "pricing ×6 (+38)", "demo request yesterday (+20)"],
        4,
        "newly_hot",
        [
            ("/pricing", "Pricing"),
            ("/demo", "Book a demo"),
            ("/case-studies/logistics", "Case study"),
        ],
        ["demo_request"],
    ),
    Company(
        "globex.io",
        "Globex",
        "globex.io",
        "DE",
        "hot",
        [12, 20, 31, 44, 47, 52],
        ["3 visitors", "pricing ×3 (+24)", "integrations ×4 (+12)", "2 active days"],
        3,
        "",
        [("/pricing", "Pricing"), ("/integrations/salesforce", "Salesforce integration")],
    ),
    Company(
        "initech.com",
        "Initech",
        "initech.com",
        "US",
        "warm",
        [0, 3, 8, 15, 22, 29],
        ["2 visitors", "case studies ×3 (+15)", "webinar (+10)"],
        2,
        "newly_warm",
        [("/case-studies", "Case studies"), ("/webinars/q3", "Webinar: intent data")],
    ),
    Company(
        "umbrella.co.uk",
        "Umbrella Corporation",
        "umbrella.co.uk",
        "GB",
        "warm",
        [30, 28, 27, 25, 24, 23],
        ["pricing 9 days ago (+10, decayed)", "ebook download (+5)"],
        1,
        "",
        [("/pricing", "Pricing"), ("/ebooks/buyers-guide", "Buyer's guide")],
    ),
    Company(
        "hooli.com",
        "Hooli",
        "hooli.com",
        "US",
        "warm",
        [5, 7, 11, 14, 18, 21],
        ["5 visitors", "docs ×8 (+8)", "pricing (+8)"],
        5,
        "",
        [("/docs/api", "API docs"), ("/pricing", "Pricing")],
    ),
    Company(
        "stark.com",
        "Stark Industries",
        "stark.com",
        "US",
        "cold",
        [40, 33, 25, 18, 12, 8],
        ["last visit 12 days ago"],
        1,
        "cooling",
        [("/blog/intent-data", "What is intent data")],
    ),
    Company(
        "wayne.com",
        "Wayne Enterprises",
        "wayne.com",
        "US",
        "cold",
        [2, 2, 3, 4, 5, 6],
        ["1 visitor", "blog ×2 (+2)"],
        1,
        "",
        [("/blog", "Blog")],
    ),
    Company(
        "tyrell.jp",
        "Tyrell Corp",
        "tyrell.jp",
        "JP",
        "cold",
        [0, 0, 1, 2, 3, 4],
        ["careers ×3 (−10)", "1 visitor"],
        1,
        "",
        [("/careers", "Careers")],
    ),
    Company(
        "cyberdyne.fr",
        "Cyberdyne Systems",
        "cyberdyne.fr",
        "FR",
        "cold",
        [0, 0, 0, 1, 2, 3],
        ["1 visitor", "home page"],
        1,
        "",
        [("/", "Home")],
        source="asn",
        traffic_class="business",
    ),
]


def day_of(days_ago: int) -> date:
    return datetime.now(UTC).date() - timedelta(days=days_ago)


def score_rows(site: str, c: Company) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows = []
    previous = ("", 0.0)
    for i, score in enumerate(c.scores):
        ago = len(c.scores) - 1 - i
        last = i == len(c.scores) - 1
        tier = c.tier if last else ("hot" if score >= 40 else "warm" if score >= 15 else "cold")
        rows.append({
            "site": site, "day": day_of(ago).isoformat(), "company_key": c.key,
            "company_name": c.name, "company_domain": c.domain, "country": c.country,
            "company_source": c.source, "confidence": 0.9, "score": float(score), "tier": tier,
            "previous_tier": previous[0], "previous_score": previous[1],
            "transition": c.transition if last else "", "reasons": c.reasons if last else c.reasons[:1],
            "visitors": c.visitors, "active_days": i + 1,
            "first_seen": (now - timedelta(days=len(c.scores) - 1)).isoformat(),
            "last_seen": (now - timedelta(minutes=12 + 37 * len(c.reasons[0] if c.reasons else "") + ago * 1440)).isoformat(),
            "top_pages": [p for p, _ in c.pages], "is_customer": 0,
            "changed_at": now.isoformat(), "computed_at": now.isoformat(),
        })  # fmt: skip
        previous = (tier, float(score))
    return rows


def event_rows(
    site: str,
    c: Company,
    days: int = 3,
    ua: tuple[str, str, str] = ("Chrome", "Windows", "desktop"),
) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows = []
    for ago in range(days):
        for v in range(c.visitors):
            ts = now - timedelta(days=ago, minutes=5 + v)
            for path, title in c.pages:
                rows.append(_event(site, c, ts, "pageview", path, title, f"{c.key}-v{v}", ua))
            for name in c.events:
                rows.append(
                    _event(site, c, ts, "event", c.pages[0][0], "", f"{c.key}-v{v}", ua, name)
                )
    return rows


def _event(site: str, c: Company, ts: datetime, type_: str, path: str, title: str, visitor: str,
           ua: tuple[str, str, str], name: str = "") -> dict[str, Any]:  # fmt: skip
    return {
        "event_id": str(uuid.uuid4()), "site": site, "ts": ts.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        "type": type_, "name": name, "url": f"https://example.com{path}", "host": "example.com",
        "path": path, "title": title, "referrer": c.referrer,
        "referrer_host": httpx.URL(c.referrer).host if c.referrer.startswith("http") else "",
        "visitor_id": visitor, "engaged_ms": 15000 if type_ == "pageview" else 0,
        "country": c.country, "traffic_class": c.traffic_class, "company_key": c.key,
        "company_domain": c.domain, "company_name": c.name, "company_source": c.source,
        "confidence": 0.9, "browser": ua[0], "os": ua[1], "device": ua[2],
    }  # fmt: skip


def seed(store: Store, site: str, companies: list[Company] | None = None) -> list[Company]:
    companies = REALISTIC if companies is None else companies
    scores = [r for c in companies for r in score_rows(site, c)]
    events = [r for c in companies for r in event_rows(site, c)]
    # Unidentified and ISP traffic too, so coverage has something to compare against.
    anon = Company("", "", "", "US", "cold", [0], [], 3, traffic_class="isp", source="")
    events += event_rows(site, anon, days=1)
    store.insert_rows("company_scores", scores)
    store.insert_rows("events", events)
    store.insert_rows("dropped_events", [
        {"site": site, "day": day_of(0).isoformat(), "reason": "bot:ua", "count": 40},
        {"site": site, "day": day_of(1).isoformat(), "reason": "bot:hosting", "count": 12},
        {"site": site, "day": day_of(0).isoformat(), "reason": "excluded:customer", "count": 3},
    ])  # fmt: skip
    return companies


def make_user(store: Store, site: str, sites: tuple[str, ...] = ()) -> str:
    email = f"sales-{site}@example.com"
    users.create_user(store, email, PASSWORD, sites)
    return email


def sign_in(base_url: str, email: str, password: str = PASSWORD) -> httpx.Client:
    """A client holding a signed-in session, through the real sign-in form."""
    client = httpx.Client(base_url=base_url, timeout=20)
    page = client.get("/dashboard/login")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = client.post("/dashboard/login", data={"csrf": csrf, "email": email, "password": password,
                                                "next": "/dashboard/"})  # fmt: skip
    assert r.status_code == 303, r.text
    return client
