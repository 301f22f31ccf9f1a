"""The demo's synthetic traffic: fictional companies (intent/demo_data/companies.csv) that own
documentation/benchmark IP ranges (198.19.0.0/16, 2001:db8:de00::/40, demo_data/ranges.csv),
each browsing like a profile (hot, newly hot, cooling, warm, careers, customer, cold...), plus
anonymous visitors at home and on phones, scrapers in a data centre and crawlers. `traffic`
returns every beacon as the snippet would send it, with the visitor's address, agent and time;
the same seed gives the same traffic."""

from __future__ import annotations

import csv
import ipaddress
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from collector.enrich import ranges as owner_ranges

DEMO_HOST = "www.demo-saas.example"
DAYS = 30

TITLES = {
    "/": "Demo SaaS — revenue intelligence for B2B teams",
    "/product": "Product tour",
    "/features": "Features",
    "/security": "Security & compliance",
    "/about": "About us",
    "/integrations/salesforce": "Salesforce integration",
    "/integrations/hubspot": "HubSpot integration",
    "/pricing": "Pricing",
    "/plans/enterprise": "Enterprise plan",
    "/demo": "See it live",
    "/book-demo": "Book a demo",
    "/webinars/intent-masterclass": "Webinar: the intent masterclass",
    "/ebook/buyer-intent-playbook": "Ebook: the buyer intent playbook",
    "/whitepaper/privacy-first-tracking": "Whitepaper: privacy-first tracking",
    "/case-studies/northwind": "Case study: how a robotics maker doubled pipeline",
    "/customers/globex": "Customer story: Globex",
    "/blog/b2b-intent-data": "What is B2B intent data?",
    "/blog/lead-scoring-101": "Lead scoring 101",
    "/blog/self-hosted-analytics": "Why self-hosted analytics",
    "/blog/reverse-ip-lookup": "How reverse IP lookup works",
    "/careers": "Careers",
    "/jobs/senior-engineer": "Senior engineer",
    "/jobs/account-executive": "Account executive",
    "/login": "Log in",
    "/app": "Dashboard",
    "/app/reports": "Reports",
}
BROWSE = ("/", "/product", "/features", "/security", "/integrations/salesforce",
          "/integrations/hubspot", "/about")  # fmt: skip
BLOG = ("/blog/b2b-intent-data", "/blog/lead-scoring-101", "/blog/self-hosted-analytics",
        "/blog/reverse-ip-lookup")  # fmt: skip
PRICING = ("/pricing", "/plans/enterprise")
DEMO = ("/demo", "/book-demo")
CONTENT = ("/webinars/intent-masterclass", "/ebook/buyer-intent-playbook",
           "/whitepaper/privacy-first-tracking", "/case-studies/northwind", "/customers/globex")  # fmt: skip
CAREERS = ("/careers", "/jobs/senior-engineer", "/jobs/account-executive")
APP = ("/login", "/app", "/app/reports")

BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
)
MOBILE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
)
BOTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "python-requests/2.32.3",
    "curl/8.5.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/131.0.0.0 Safari/537.36",
)
# AI agents reading the site for a person (from a cloud): kept as traffic class ai-agent, counted,
# never a company (docs/ai-agents.md).
AI_AGENTS = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; "
    "+https://openai.com/bot",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Claude-User/1.0; "
    "+Claude-User@anthropic.com)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; "
    "+https://perplexity.ai/perplexity-user)",
)
REFERRERS = ("", "", "https://www.google.com/", "https://www.linkedin.com/",
             "https://news.ycombinator.com/", "https://www.bing.com/")  # fmt: skip
# Residential and mobile lines: no owner range covers them, so they stay anonymous.
ISP_NET = ipaddress.ip_network("198.19.200.0/22")
MOBILE_NET = ipaddress.ip_network("2001:db8:de99::/48")
HOSTING_NET = ipaddress.ip_network("198.19.210.0/24")  # scrapers with a browser's agent


@dataclass(frozen=True)
class DemoCompany:
    domain: str
    name: str
    profile: str
    visitors: int
    country: str
    city: str
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


@dataclass(frozen=True)
class Visit:
    """One visitor's session on one day: pages in order, then custom events."""

    days_ago: int
    visitor: int
    pages: tuple[str, ...]
    events: tuple[str, ...] = ()


def data_file(name: str) -> Path:
    return Path(str(resources.files("intent").joinpath("demo_data", name)))


def companies() -> list[DemoCompany]:
    """The shipped companies with their owner ranges (ranges.csv, the import format)."""
    networks: dict[str, list[Any]] = {}
    for r in owner_ranges.parse_csv(data_file("ranges.csv").read_text("utf-8").splitlines())[0]:
        networks.setdefault(r.domain, []).append(r.network)
    lines = [line for line in data_file("companies.csv").read_text("utf-8").splitlines()
             if line.strip() and not line.startswith("#")]  # fmt: skip
    return [
        DemoCompany(
            row["domain"],
            row["name"],
            row["profile"],
            int(row["visitors"]),
            row["country"],
            row["city"],
            tuple(networks.get(row["domain"], ())),
        )
        for row in csv.DictReader(lines)
    ]


def _rdns_rows() -> list[dict[str, str]]:
    lines = [line for line in data_file("rdns.csv").read_text("utf-8").splitlines()
             if line.strip() and not line.startswith("#")]  # fmt: skip
    return list(csv.DictReader(lines))


def rdns_names() -> dict[ipaddress.IPv4Network | ipaddress.IPv6Network, str]:
    """The demo's reverse zone: each rdns company's network -> the PTR name of its addresses."""
    return {ipaddress.ip_network(r["network"]): r["host"] for r in _rdns_rows()}


def rdns_companies() -> list[DemoCompany]:
    """The companies only reverse DNS names (demo_data/rdns.csv): their domain is the host's."""
    return [
        DemoCompany(
            r["host"].split(".", 1)[1], r["name"], r["profile"], int(r["visitors"]),
            r["country"], r["city"], (ipaddress.ip_network(r["network"]),),
        )
        for r in _rdns_rows()
    ]  # fmt: skip


def plan(profile: str, visitors: int, rng: random.Random) -> list[Visit]:
    """What a company of this profile does over the last 30 days (day 0 is today)."""

    def browse(k: int = 2) -> tuple[str, ...]:
        return tuple(rng.sample(BROWSE, k))

    def pick(pages: tuple[str, ...]) -> str:
        return rng.choice(pages)

    v = list(range(visitors))
    if profile == "hot":  # buying for days: pricing, demo page, a demo request, several people
        start = rng.randint(4, 6)
        return [
            Visit(start, 0, (*browse(), "/pricing")),
            Visit(start - 2, 0, ("/pricing", pick(DEMO)), ("demo_request",)),
            Visit(start - 1, v[1 % visitors], (pick(CONTENT), "/pricing", "/plans/enterprise")),
            Visit(1, v[-1], ("/product", "/integrations/salesforce", "/pricing")),
            Visit(rng.randint(8, 14), v[-1], (pick(BLOG), "/")),
            *(
                Visit(rng.randint(0, 9), rng.choice(v), (pick(CONTENT), pick(BROWSE)))
                for _ in range(rng.randint(0, 3))
            ),
        ]
    if profile == "newly_hot":  # content for weeks, buying today
        return [
            Visit(12, 0, (pick(BLOG), "/product")),
            Visit(6, 1 % visitors, ("/case-studies/northwind", "/ebook/buyer-intent-playbook")),
            Visit(3, 0, ("/webinars/intent-masterclass", "/features")),
            Visit(0, 0, ("/pricing", "/plans/enterprise", "/book-demo"), ("demo_request",)),
            Visit(0, v[-1], ("/product", "/pricing", "/security")),
        ]
    if profile == "cooling":  # a burst of buying a week ago, silence since
        return [
            Visit(8, 0, (*browse(), "/case-studies/northwind")),
            Visit(7, 0, ("/pricing", "/demo"), ("demo_request",)),
            Visit(7, 1 % visitors, ("/pricing", "/book-demo", "/plans/enterprise")),
            Visit(7, 2 % visitors, ("/pricing", "/security")),
            Visit(7, v[-1], ("/product", "/pricing", "/webinars/intent-masterclass")),
        ]
    if profile == "newly_warm":  # gated content today
        return [
            Visit(15, 0, (pick(BLOG),)),
            Visit(0, 0, ("/ebook/buyer-intent-playbook", "/webinars/intent-masterclass")),
            Visit(0, v[-1], ("/case-studies/northwind", "/customers/globex", "/features")),
        ]
    if profile == "warm":  # ebooks, webinars, case studies; no buying signal
        out = []
        days = sorted(rng.sample(range(1, 10), 3), reverse=True)
        for i, day in enumerate(days):
            out.append(Visit(day, v[i % visitors], (pick(CONTENT), pick(CONTENT), *browse(1))))
        # A colleague reads along on the latest day: ids are daily, so only people seen on the
        # same day count as more than one (breadth).
        out.append(Visit(days[-1], v[3 % visitors], (pick(CONTENT), *browse(1))))
        return out
    if profile == "was_hot":  # hot three weeks ago, gone quiet
        start = rng.randint(20, 23)
        return [
            Visit(start, 0, ("/pricing", "/demo", "/plans/enterprise"), ("demo_request",)),
            Visit(start - 1, 1 % visitors, ("/pricing", "/book-demo")),
            Visit(start - 1, v[-1], ("/case-studies/northwind", "/pricing")),
            Visit(start - 2, 0, ("/pricing", "/security")),
        ]
    if profile == "careers":  # job seekers: negative points
        return [Visit(rng.randint(0, 20), i, ("/", pick(CAREERS), pick(CAREERS))) for i in v]
    if profile == "customer":  # logs in daily, sometimes checks pricing (an upsell, not a lead)
        out = [Visit(d, rng.choice(v), ("/login", "/app", "/app/reports")) for d in range(0, 28, 2)]
        out.append(Visit(1, 0, ("/pricing", "/login", "/app")))
        return out
    # cold: a blog post or a product page now and then
    return [Visit(rng.randint(0, 29), rng.choice(v), (pick(BLOG), *browse(rng.randint(0, 1))))
            for _ in range(rng.randint(1, 3))]  # fmt: skip


@dataclass(frozen=True)
class Hit:
    """One beacon as the snippet would send it, with the visitor's IP, agent and the time."""

    body: dict[str, Any]
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    user_agent: str
    ts: datetime


def _ip_in(network: Any, rng: random.Random) -> Any:
    return network.network_address + rng.randint(1, min(network.num_addresses - 2, 65_000))


def _session(
    site: str, rng: random.Random, rnd_id: Callable[[], str], start: datetime,
    pages: tuple[str, ...], events: tuple[str, ...], ip: Any, ua: str,
) -> Iterator[Hit]:  # fmt: skip
    ts = start
    referrer = rng.choice(REFERRERS)
    for i, path in enumerate(pages):
        url = f"https://{DEMO_HOST}{path}"
        if i == 0 and referrer.startswith("https://www.linkedin"):
            url += "?utm_source=linkedin&utm_medium=social&utm_campaign=intent-q4"
        body = {"site": site, "type": "pageview", "url": url, "title": TITLES.get(path, ""),
                "referrer": referrer if i == 0 else f"https://{DEMO_HOST}{pages[i - 1]}",
                "id": rnd_id()}  # fmt: skip
        yield Hit(body, ip, ua, ts)
        ts += timedelta(seconds=rng.randint(15, 240))
        yield Hit({"site": site, "type": "engagement", "url": url, "id": rnd_id(),
                   "engaged_ms": rng.randint(4_000, 180_000), "scroll": rng.randint(20, 100)},
                  ip, ua, ts)  # fmt: skip
    for name in events:
        ts += timedelta(seconds=rng.randint(20, 120))
        yield Hit({"site": site, "type": "event", "name": name, "id": rnd_id(),
                   "url": f"https://{DEMO_HOST}{pages[-1]}"}, ip, ua, ts)  # fmt: skip


def traffic(site: str, today: date, now: datetime, seed: int) -> list[Hit]:
    """Every beacon of the demo, in time order, none later than `now`."""
    rng = random.Random(seed)

    def rnd_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def start_of(days_ago: int) -> datetime:
        day = today - timedelta(days=days_ago)
        begin = datetime.combine(day, time(7), UTC)
        latest = min(datetime.combine(day, time(18), UTC), now - timedelta(minutes=30))
        if latest <= begin:  # early in the UTC day: squeeze today's visits before now
            begin = datetime.combine(day, time(0), UTC)
            latest = max(begin, now - timedelta(minutes=30))
        return begin + timedelta(seconds=rng.randint(0, int((latest - begin).total_seconds())))

    hits: list[Hit] = []
    for company in companies() + rdns_companies():
        agents = [rng.choice(BROWSERS) for _ in range(company.visitors)]
        ips = [_ip_in(rng.choice(company.networks), rng) for _ in range(company.visitors)]
        for visit in plan(company.profile, company.visitors, rng):
            i = visit.visitor
            hits += _session(site, rng, rnd_id, start_of(visit.days_ago), visit.pages,
                             visit.events, ips[i], agents[i])  # fmt: skip
    for _ in range(60):  # anonymous people at home and on phones
        mobile = rng.random() < 0.4
        ip = _ip_in(MOBILE_NET if mobile else ISP_NET, rng)
        ua = rng.choice(MOBILE if mobile else BROWSERS)
        pages = pick_many(rng, BLOG + BROWSE + PRICING + CONTENT, rng.randint(1, 3))
        hits += _session(site, rng, rnd_id, start_of(rng.randint(0, DAYS - 1)), pages, (), ip, ua)
    for days_ago in range(0, DAYS, 2):  # scrapers in a data centre posing as browsers
        ip = _ip_in(HOSTING_NET, rng)
        pages = pick_many(rng, PRICING + BROWSE, 3)
        hits += _session(site, rng, rnd_id, start_of(days_ago), pages, (), ip, BROWSERS[0])
    for days_ago in range(DAYS):  # crawlers and scripts, every day
        for ua in rng.sample(BOTS, 2):
            ip = _ip_in(ISP_NET, rng)
            pages = pick_many(rng, tuple(TITLES), 3)
            hits += _session(site, rng, rnd_id, start_of(days_ago), pages, (), ip, ua)
    for days_ago in range(0, DAYS, 3):  # AI agents researching for a person, from a cloud
        ip = _ip_in(HOSTING_NET, rng)
        pages = pick_many(rng, PRICING + CONTENT + BROWSE, 2)
        ua = rng.choice(AI_AGENTS)
        hits += _session(site, rng, rnd_id, start_of(days_ago), pages, (), ip, ua)
    hits = [h for h in hits if h.ts <= now]
    hits.sort(key=lambda h: h.ts)
    return hits


def pick_many(rng: random.Random, pages: tuple[str, ...], k: int) -> tuple[str, ...]:
    return tuple(rng.sample(pages, min(k, len(pages))))
