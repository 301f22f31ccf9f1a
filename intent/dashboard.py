"""The sales dashboard: server-rendered pages (Jinja2, autoescaped) under /dashboard/.

No JavaScript at all: every page is plain HTML and one CSS file, served with a strict
Content-Security-Policy. A page needs a session (intent.signin: email + password or an API key),
a random token in an HttpOnly, SameSite=Lax cookie (Secure behind https). The headers, templates,
cookies and session check every page shares are intent.dashboard_http's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from collector.enrich import coverage
from collector.site_settings import SiteConfig, site_today
from collector.state import store_of
from collector.store import Store
from intent import (
    companies,
    dashboard_accounts,
    digest,
    digest_render,
    priority,
    scoring,
    scoring_sql,
    timestamps,
    users,
)
from intent.accounts.fit import GRADES
from intent.accounts.matching import attach_accounts
from intent.ai_reads import ai_agent_reads
from intent.alerts import claims
from intent.clock import clock_of
from intent.company_links import company_links
from intent.dashboard_http import (
    DIGEST_CSP,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    Page,
    allowed_sites,
    collector_of,
    is_https,
    login_redirect,
    not_found,
    page,
    render,
    security_headers,
    site_page,
    urlpart,
)

PAGE_SIZE = 100  # companies per page

ACCEPTED = """
SELECT count() AS events, max(ts) AS last_event
FROM events
WHERE site = {site:String} AND ts >= now64(3) - toIntervalDay({days:UInt32})
"""


def _days(request: Request, default: int, maximum: int = 365) -> int:
    raw = request.query_params.get("days", "")
    return min(int(raw), maximum) if raw.isdigit() and int(raw) > 0 else default


def _site_today(request: Request, site: str) -> date:
    return site_today(collector_of(request).settings.sites[site])


# ---- pages


def companies_page(request: Request, store: Store, session: users.Session, site: str) -> Response:
    q = request.query_params
    customers = q.get("segment", "") == "customers"  # existing customers: their own tab
    tier = q.get("tier", "") if q.get("tier", "") in scoring.TIERS and not customers else ""
    country = q.get("country", "").strip()[:2].upper()
    search = q.get("q", "").strip()[:100]
    days = _days(request, 30)
    raw_page = q.get("page", "")
    page_no = min(int(raw_page), 10_000) if raw_page.isdigit() and int(raw_page) > 0 else 1
    config = collector_of(request).settings.sites[site]
    today = site_today(config)
    owner, fit = dashboard_accounts.parse_filters(q.get("owner", ""), q.get("fit", ""))

    def fetch(offset: int, limit: int) -> list[dict[str, Any]]:
        return store.query_dicts(companies.RANK_COMPANIES, {"site": site, "days": days, "tier": tier,
                                                            "country": country, "q": search,
                                                            "customers": int(customers), "today": today,
                                                            "tz": config.timezone,
                                                            "limit": limit, "offset": offset})  # fmt: skip

    if owner or fit:
        rows, more = dashboard_accounts.filtered_page(store, config, fetch, owner, fit,
                                                      (page_no - 1) * PAGE_SIZE, PAGE_SIZE)  # fmt: skip
    else:
        rows = fetch((page_no - 1) * PAGE_SIZE, PAGE_SIZE + 1)
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        dashboard_accounts.with_accounts(store, config, rows)
    rows.sort(key=lambda r: priority.priority_key(  # fit, attached above, within a group
        newly_hot_today=r["c_transition"] == "newly_hot" and r["c_day"] == today,
        tier=r["c_tier"], buying_at=r["c_buying_at"], score=float(r["c_score"]), fit=r.get("fit"),
        key=r["company_key"], tz=config.timezone))  # fmt: skip
    now = clock_of(request).now()
    for r in rows:
        r["c_last_seen_local"] = timestamps.local_time(r["c_last_seen"], config.timezone)
        r["c_last_seen_ago"] = timestamps.ago(r["c_last_seen"], now)
        r["c_last_seen_iso"] = timestamps.utc_iso(r["c_last_seen"])
    for row in rows:  # website, LinkedIn, CRM: the name already links to the company's page
        row["links"] = company_links(config, row["company_key"], row["c_domain"], row["c_name"],
                                     row["account"], None)  # fmt: skip
    owners = dashboard_accounts.owner_choices(store, config)
    me = dashboard_accounts.my_choice(store, session, owners)
    facets = store.query_dicts(
        companies.COMPANY_FACETS, {"site": site, "days": days, "today": today}
    )
    shown = [f for f in facets if not country or f["c_country"] == country]
    tier_counts = {t: sum(f["companies"] for f in shown if f["c_tier"] == t and not f["c_customer"])
                   for t in scoring.TIERS}  # fmt: skip
    customer_count = sum(f["companies"] for f in shown if f["c_customer"])
    countries = sorted({f["c_country"] for f in facets if f["c_country"]})
    return page(request, "companies.html", session, site, "companies", companies=rows,
                tier=tier, country=country, q=search, days=days, tier_counts=tier_counts,
                countries=countries, total=sum(tier_counts.values()), page_no=page_no,
                more=more, page_size=PAGE_SIZE, owner=owner, fit=fit, owners=owners, me=me,
                grades=GRADES, customers=customers, customer_count=customer_count,
                timezone=config.timezone)  # fmt: skip


def company_page(request: Request, store: Store, session: users.Session, site: str) -> Response:
    company = request.path_params["company"]
    days = _days(request, 90)
    today = datetime.now(UTC).date()
    params = {"site": site, "company": company, "days": days, "day": today,
              "start": today - timedelta(days=days), **scoring_sql.only([company])}  # fmt: skip
    history = store.query_dicts(companies.SCORE_HISTORY, params)
    activity = store.query_dicts(companies.COMPANY_ACTIVITY, params)
    if not history and not activity:
        return not_found(request, session)
    visits = {r["day"]: r for r in store.query_dicts(companies.COMPANY_VISITS, params)}
    titles: dict[str, str] = {}
    for v in visits.values():
        for path, title in v["titles"]:
            if title:
                titles.setdefault(path, title)
    timeline: dict[date, dict[str, Any]] = {}
    pages: dict[str, dict[str, Any]] = {}
    for r in activity:
        day = timeline.setdefault(r["day"], {"day": r["day"], "pages": [], "events": [],
                                             "visitors": 0, "referrers": [], "agents": []})  # fmt: skip
        day["pages" if r["kind"] == "page" else "events"].append(r)
        day["visitors"] = max(day["visitors"], r["visitors"])
        if r["kind"] == "page":
            p = pages.setdefault(r["key"], {"path": r["key"], "hits": 0, "engaged_ms": 0,
                                            "days": 0, "title": titles.get(r["key"], "")})  # fmt: skip
            p["hits"] += r["hits"]
            p["engaged_ms"] += r["engaged_ms"]
            p["days"] += 1
    own = collector_of(request).settings.sites[site]
    for day_value, v in visits.items():
        if day_value in timeline:  # where they came from: other sites, not our own pages
            timeline[day_value]["referrers"] = sorted(
                x for x in v["referrers"] if x and not _internal(x, own)
            )
            timeline[day_value]["agents"] = sorted(v["agents"])
    latest = history[-1] if history else None
    now = clock_of(request).now()
    follow_up = claims.page_context(store, own, company, now)
    seen = latest["last_seen"] if latest else now
    links = None
    if latest is not None:
        attach_accounts(store, own, [latest])
        links = company_links(own, company, latest["company_domain"], latest["company_name"],
                              latest["account"], None)  # fmt: skip
    return page(request, "company.html", session, site, "companies", company=company,
                last_seen_local=timestamps.local_time(seen, own.timezone),
                last_seen_ago=timestamps.ago(seen, now), links=links,
                latest=latest, history=list(reversed(history)), chart=score_chart(history),
                timeline=sorted(timeline.values(), key=lambda d: d["day"], reverse=True),
                pages=sorted(pages.values(), key=lambda p: (-p["hits"], p["path"])),
                days=days, **follow_up)  # fmt: skip


def _internal(referrer: str, site: SiteConfig) -> bool:
    try:
        host = urlsplit(referrer).hostname or ""
    except ValueError:
        return False
    return bool(host) and site.allows_origin(host)


def score_chart(
    history: list[dict[str, Any]], width: int = 640, height: int = 180
) -> dict[str, Any]:
    """Score history as coordinates for an inline SVG (no script, no inline style)."""
    if not history:
        return {"points": [], "polyline": "", "width": width, "height": height, "max": 0}
    left, right, top, bottom = 40, 10, 10, 24
    top_score = max(max(float(h["score"]) for h in history), 1.0)
    first, last = history[0]["day"], history[-1]["day"]
    span = max((last - first).days, 1)
    points = []
    for h in history:
        x = left + (width - left - right) * ((h["day"] - first).days / span)
        y = top + (height - top - bottom) * (1 - float(h["score"]) / top_score)
        points.append({"x": round(x, 1), "y": round(y, 1), "day": h["day"], "score": h["score"],
                       "tier": h["tier"]})  # fmt: skip
    return {
        "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "width": width, "height": height, "max": round(top_score, 1),
        "left": left, "bottom": height - bottom, "right": width - right, "top": top,
        "first": first, "last": last,
    }  # fmt: skip


def digest_page(request: Request, store: Store, session: users.Session, site: str) -> Response:
    """The digest exactly as emailed (intent.digest), in the page: its links to company pages
    stay within the dashboard."""
    day = _digest_day(request, site)
    config = collector_of(request).settings.sites[site]
    built = digest.build_digest(store, site, day, config.timezone, rules=scoring.rules_of(config),
                                config=config, dashboard_base="")  # fmt: skip
    response = page(request, "digest.html", session, site, "digest", day=day,
                    digest_html=digest_render.render_html_body(built))  # fmt: skip
    response.headers["Content-Security-Policy"] = DIGEST_CSP
    return response


def _digest_day(request: Request, site: str) -> date:
    raw = request.query_params.get("date", "")
    try:
        return date.fromisoformat(raw) if raw else _site_today(request, site)
    except ValueError:
        return _site_today(request, site)


def coverage_page(request: Request, store: Store, session: users.Session, site: str) -> Response:
    days = _days(request, 7)
    cov = coverage.coverage(store, site, days)

    def shares(counts: dict[str, int]) -> list[dict[str, Any]]:
        return [{"name": name, "views": n, "share": cov.share(n)} for name, n in counts.items()]

    ai = ai_agent_reads(store, site, _site_today(request, site), days)  # counted, never scored
    return page(request, "coverage.html", session, site, "coverage", days=days, cov=cov,
                by_class=shares(cov.by_class), by_source=shares(cov.by_source), ai=ai)  # fmt: skip


def dropped_page(request: Request, store: Store, session: users.Session, site: str) -> Response:
    days = _days(request, 7)
    params = {"site": site, "days": days}
    rows = [
        {"reason": reason, "dropped": int(n)}
        for _site, reason, n in store.query(coverage.DROPPED, params)
    ]
    accepted = store.query_dicts(ACCEPTED, params)[0]
    dropped = sum(r["dropped"] for r in rows)
    received = dropped + accepted["events"]
    for r in rows:
        r["share"] = r["dropped"] / received if received else 0.0
    return page(request, "dropped.html", session, site, "dropped", days=days, reasons=rows,
                dropped=dropped, accepted=accepted["events"], received=received)  # fmt: skip


def install_page(request: Request, store: Store, session: users.Session, site: str) -> Response:
    scheme = "https" if is_https(request) else request.url.scheme
    base = f"{scheme}://{request.url.netloc}"
    recent = store.query_dicts(ACCEPTED, {"site": site, "days": 1})[0]
    config = collector_of(request).settings.sites[site]
    return page(request, "install.html", session, site, "install", base=base,
                domains=config.domains, recent=recent)  # fmt: skip


# ---- site picker


def home(request: Request) -> Response:
    store = store_of(request.app)
    session = users.session(store, request.cookies.get(SESSION_COOKIE, ""))
    if session is None:
        return login_redirect(request)
    sites = allowed_sites(request, session)
    wanted = request.query_params.get("site", "")
    if wanted in sites or len(sites) == 1:
        target = wanted if wanted in sites else sites[0]
        return security_headers(
            RedirectResponse(f"/dashboard/sites/{urlpart(target)}/companies", 303)
        )
    return render(request, "sites.html", session=session, sites=sites)


def root(request: Request) -> Response:
    return RedirectResponse("/dashboard/", status_code=307)


def _static_files() -> Mapping[str, tuple[bytes, str]]:
    folder = resources.files("intent").joinpath("static")
    return {
        "dashboard.css": (folder.joinpath("dashboard.css").read_bytes(), "text/css; charset=utf-8"),
        "favicon.svg": (folder.joinpath("favicon.svg").read_bytes(), "image/svg+xml"),
    }


_STATIC = _static_files()


def static(request: Request) -> Response:
    found = _STATIC.get(request.path_params["name"])
    if found is None:
        return Response(status_code=404, headers=SECURITY_HEADERS)
    body, media_type = found
    return Response(body, media_type=media_type,
                    headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"})  # fmt: skip


def missing(request: Request) -> Response:
    """Any other /dashboard/ address: the dashboard's own 404 page, not the API's JSON."""
    session = users.session(store_of(request.app), request.cookies.get(SESSION_COOKIE, ""))
    return not_found(request, session)


def routes() -> list[BaseRoute]:
    def site_route(path: str, name: str, handler: Page) -> Route:
        return Route("/dashboard/sites/{site}" + path, site_page(name, handler), methods=["GET"])

    return [
        Route("/", root, methods=["GET"]),
        Route("/dashboard", root, methods=["GET"]),
        Route("/dashboard/", home, methods=["GET"]),
        Route("/dashboard/static/{name}", static, methods=["GET"]),
        site_route("/companies", "companies", companies_page),
        site_route("/companies/{company:path}", "company", company_page),
        site_route("/digest", "digest", digest_page),
        site_route("/coverage", "coverage", coverage_page),
        site_route("/dropped", "dropped", dropped_page),
        site_route("/install", "install", install_page),
        Route("/dashboard/{rest:path}", missing, methods=["GET"]),
    ]
