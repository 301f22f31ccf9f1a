"""`/api/v1`: the CRM sync API. Bearer API keys scoped to sites (another site's data is a 404,
so site names do not leak), a token bucket per key, orjson bodies, the one error shape.

Pagination is keyset on (changed_at, company_key) over each company's latest snapshot: a
company rescored while a client pages gets a newer changed_at and shows up again later, but a
company is never skipped (docs/api.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from collector import keys
from collector.clientip import client_ip
from collector.errors import error_response
from collector.ratelimit import RateLimiter, retry_after
from collector.settings import Settings
from collector.site_settings import SiteConfig, site_today
from collector.store import Store, StoreError, ch_time
from intent import companies, digest, digest_render, privacy, timestamps
from intent import priority as rep_order
from intent.accounts.matching import attach_accounts, owned_by
from intent.api_params import (
    BadParam,
    company_filters,
    encode_cursor,
    encode_offset,
    enum_param,
    int_param,
    parse_day,
    query_params,
)
from intent.company_links import company_links
from intent.scoring import rules_of

FAILED_AUTH_BURST = 30  # bad keys an address may try before it is slowed to one per second
FAILED_AUTH_PER_SECOND = 1.0
MAX_DAYS = 365
# The JSON digest is GET .../digest; each rendering has its own operation, GET .../digest/{format},
# so a client generated from the spec knows what body each answers (docs/api.md).
DIGEST_PATH = "/api/v1/sites/{site}/digest"
RENDERED_DIGEST_FORMATS = ("html", "text", "markdown", "csv")

# Site data is private and may hold visitor-controlled text (titles, paths): never cached,
# never sniffed, and HTML (the digest) can load nothing and run no script.
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
}


def dumps(value: Any) -> bytes:
    return timestamps.dumps(value)


def json_response(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json")


# Data -----------------------------------------------------------------------------------------


def company_json(
    row: dict[str, Any], config: SiteConfig, dashboard_base: str | None
) -> dict[str, Any]:
    """A company as the API gives it; `dashboard_base` is INTENT_PUBLIC_URL (None: unset)."""
    links = company_links(config, row["company_key"], row["company_domain"], row["company_name"],
                          row.get("account"), dashboard_base)  # fmt: skip
    return {
        "key": row["company_key"],
        "name": row["company_name"],
        "domain": row["company_domain"],
        "country": row["country"],
        "source": row["company_source"],
        "confidence": round(float(row["confidence"]), 3),
        "score": round(float(row["score"]), 2),
        "tier": row["tier"],
        "previous_tier": row["previous_tier"],
        "previous_score": round(float(row["previous_score"]), 2),
        "transition": row["transition"],
        "reasons": list(row["reasons"]),
        "visitors": int(row["visitors"]),
        "active_days": int(row["active_days"]),
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
        "top_pages": list(row["top_pages"]),
        "is_customer": bool(row["is_customer"]),
        "day": row["day"],
        "changed_at": row["changed_at"],
        "buying_signal_at": row["buying_at"] if row["buying_at"].year > 1970 else None,
        # intent.accounts.matching.attach_accounts: the CRM account and the fit grade
        "account": row.get("account"),
        "fit": row.get("fit"),
        "fit_reasons": row.get("fit_reasons", []),
        # intent.alerts.claims: who claimed the company, and when
        "claimed_by": row["claimed_by"] or None,
        "claimed_at": row["claimed_at"] if row["claimed_by"] else None,
        "links": links.to_dict(),  # intent.company_links: website, LinkedIn, CRM, dashboard
    }


SCAN_BATCH = 1000  # companies read per query while owner=/fit= filter a page
SCAN_BATCHES = 20  # past this a filtered page ends short, with a cursor to go on from


def list_companies(
    store: Store,
    site: str,
    params: dict[str, Any],
    config: SiteConfig | None = None,
    dashboard_base: str | None = None,
) -> dict[str, Any]:
    """One page, in `(changed_at, key)` keyset order or (sort=priority) the rep's order by
    offset. owner= and fit= are known only once accounts are attached, so a filtered page reads
    batches until it has `limit` companies, or ends short after SCAN_BATCHES with a cursor after
    the last company read."""
    config = config or SiteConfig(site, ())
    limit, owner, fits = params["limit"], params.get("owner", ""), set(params.get("fits", ()))
    filtered = bool(owner or fits)
    priority = params.get("sort") == "priority"
    bound = {k: v for k, v in params.items() if k not in ("owner", "fits", "sort")}
    if priority:
        bound.update(today=site_today(config), tz=config.timezone)
    sql = companies.LIST_BY_PRIORITY if priority else companies.LIST_COMPANIES
    batch = max(limit + 1, SCAN_BATCH) if filtered else limit + 1
    kept: list[tuple[dict[str, Any], int]] = []  # (company, offset after it)
    last: dict[str, Any] | None = None  # the last company read, kept or not
    read = int(bound.get("offset", 0))  # the offset after `last`
    exhausted = False
    for _ in range(SCAN_BATCHES if filtered else 1):
        rows = store.query_dicts(sql, {**bound, "site": site, "limit": batch})
        attach_accounts(store, config, rows)
        for row in rows:
            last, read = row, read + 1
            if not filtered or _wanted(row, owner, fits):
                kept.append((row, read))
                if len(kept) > limit:
                    break
        if len(kept) > limit:
            break
        if len(rows) < batch or last is None:
            exhausted = True
            break
        bound["after_t"], bound["after_k"] = ch_time(last["changed_at"]), last["company_key"]
        bound["offset"] = read
    page = [row for row, _after in kept[:limit]]
    more = len(kept) > limit or not exhausted
    at, after = kept[limit - 1] if len(kept) > limit else (last, read)
    cursor = None
    if more and at is not None:
        cursor = (encode_offset(after) if priority
                  else encode_cursor(at["changed_at"], at["company_key"]))  # fmt: skip
    if priority:  # fit, attached above, orders within a (newly hot, tier, buying day) group
        today, tz = bound["today"], config.timezone
        page.sort(key=lambda r: rep_order.row_key(r, today, tz))
    data = [company_json(r, config, dashboard_base) for r in page]
    return {"data": data, "has_more": more, "next_cursor": cursor}


def _wanted(row: dict[str, Any], owner: str, fits: set[str]) -> bool:
    return (not fits or row.get("fit") in fits) and (
        not owner or owned_by(row.get("account"), owner)
    )


def company_profile(
    store: Store,
    site: str,
    company: str,
    days: int,
    config: SiteConfig | None = None,
    dashboard_base: str | None = None,
) -> dict[str, Any] | None:
    latest = store.query_dicts(companies.COMPANY_LATEST, {"site": site, "company": company})
    if not latest:
        return None
    config = config or SiteConfig(site, ())
    attach_accounts(store, config, latest)
    start = datetime.now(UTC).date() - timedelta(days=days - 1)
    bound = {"site": site, "company": company, "start": start}
    history = store.query_dicts(companies.SCORE_HISTORY, bound)
    visitors = int(store.scalar(companies.COMPANY_VISITORS, bound) or 0)
    timeline: dict[date, dict[str, Any]] = {}
    for r in store.query_dicts(companies.COMPANY_TIMELINE, bound):
        day = timeline.setdefault(r["day"], {"day": r["day"], "pages": [], "events": []})
        if r["kind"] == "event":
            day["events"].append(
                {"name": r["key"], "hits": int(r["hits"]), "visitors": int(r["visitors"])}
            )
        else:
            day["pages"].append({
                "path": r["key"], "hits": int(r["hits"]), "engaged_ms": int(r["engaged_ms"]),
                "max_scroll": int(r["max_scroll"]), "visitors": int(r["visitors"]),
            })  # fmt: skip
    return {
        **company_json(latest[0], config, dashboard_base),
        "window_days": days,
        "window_visitors": visitors,
        "score_history": [
            {
                "day": h["day"],
                "score": round(float(h["score"]), 2),
                "tier": h["tier"],
                "transition": h["transition"],
                "reasons": list(h["reasons"]),
            }
            for h in history
        ],
        "timeline": list(timeline.values()),
    }


def render_digest(
    store: Store,
    site: str,
    day: date,
    fmt: str,
    timezone: str = "UTC",
    config: SiteConfig | None = None,
    dashboard_base: str | None = None,
) -> bytes:
    """The daily digest (intent.digest: the same one emailed to sales) in one format."""
    rules = rules_of(config) if config is not None else None
    built = digest.build_digest(store, site, day, timezone=timezone, rules=rules, config=config,
                                dashboard_base=dashboard_base)  # fmt: skip
    body, _content_type = digest_render.render(built, fmt)
    return body.encode("utf-8")


# Endpoints ------------------------------------------------------------------------------------

Handler = Callable[[Request, Store, keys.ApiKey, str], Awaitable[Response]]


class Api:
    """The /api/v1 routes and what they share (the per-key rate limiter)."""

    def __init__(self, settings: Settings) -> None:
        self.limiter = RateLimiter(
            settings.api_rate_limit_per_second, settings.api_rate_limit_burst
        )
        self.failures = RateLimiter(FAILED_AUTH_PER_SECOND, FAILED_AUTH_BURST)
        self.proxies = settings.trusted_proxies

    def guarded(
        self, handler: Handler, write: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            response = await checked(request)
            response.headers.update(PRIVATE_HEADERS)
            request.app.state.collector.metrics.api_requests.labels(str(response.status_code)).inc()
            return response

        async def checked(request: Request) -> Response:
            store: Store | None = request.app.state.collector.store
            if store is None:
                return error_response(503, "starting up", headers={"Retry-After": "5"})
            token = keys.bearer(request.headers.get("authorization", ""))
            if token is None:
                return error_response(
                    401,
                    "expected Authorization: Bearer KEY",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            peer = request.client.host if request.client else None
            ip = str(client_ip(peer, request.headers.get("x-forwarded-for"), self.proxies))
            hit, key = keys.cached(token)
            if not hit:  # a database lookup: refused to an address that keeps sending bad keys
                wait = self.failures.wait(ip)
                if wait:
                    return error_response(
                        429,
                        "too many failed authentications from this address",
                        headers={"Retry-After": retry_after(wait)},
                    )
                try:
                    key = await asyncio.to_thread(keys.verify, store, token)
                except StoreError:
                    return error_response(503, "database unavailable", headers={"Retry-After": "5"})
            if key is None:
                self.failures.allow(ip)
                return error_response(
                    401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"}
                )
            wait = self.limiter.allow(key.prefix)
            if wait:
                return error_response(
                    429,
                    "too many requests for this API key",
                    headers={"Retry-After": retry_after(wait)},
                )
            site = request.path_params["site"]
            if site not in key.sites:
                return error_response(404, f"no site {site!r}", code="site_not_found", field="site")
            if write and not key.can_write():
                return error_response(
                    403,
                    "this API key is read-only; create one with --scope write",
                    code="insufficient_scope",
                )
            try:
                return await handler(request, store, key, site)
            except BadParam as exc:
                return error_response(400, exc.message, code="invalid_parameter", field=exc.field)
            except StoreError:
                return error_response(503, "database unavailable", headers={"Retry-After": "5"})

        return endpoint

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v1/sites/{site}/companies", self.guarded(companies_endpoint), methods=["GET"]),
            Route("/api/v1/sites/{site}/companies/{company:path}", self.guarded(company_endpoint), methods=["GET"]),
            Route(DIGEST_PATH, self.guarded(digest_endpoint), methods=["GET"]),
            Route(DIGEST_PATH + "/{format}", self.guarded(rendered_digest), methods=["GET"]),
            Route("/api/v1/sites/{site}/visitors/{visitor}", self.guarded(delete_visitor, write=True), methods=["DELETE"]),
        ]  # fmt: skip


def public_base(request: Request) -> str | None:
    """INTENT_PUBLIC_URL, the base of links to the dashboard (None: unset, no such links)."""
    url: str = request.app.state.collector.settings.public_url
    return url or None


def site_config(request: Request, site: str) -> SiteConfig:
    """The site's configuration (owners, fit, time zone); a bare one for a site a key names
    that intent.toml no longer has."""
    found: SiteConfig | None = request.app.state.collector.settings.sites.get(site)
    return found or SiteConfig(site, ())


async def companies_endpoint(
    request: Request, store: Store, key: keys.ApiKey, site: str
) -> Response:
    params = company_filters(request)
    config = site_config(request, site)
    page = await asyncio.to_thread(
        list_companies, store, site, params, config, public_base(request)
    )
    return json_response(page)


async def company_endpoint(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    query_params(request, {"days"})
    days = int_param(request, "days", 30, 1, MAX_DAYS)
    name = request.path_params["company"]
    config = site_config(request, site)
    profile = await asyncio.to_thread(
        company_profile, store, site, name, days, config, public_base(request)
    )
    if profile is None:
        return error_response(
            404, f"no company {name!r} on this site", code="company_not_found", field="company"
        )
    return json_response(profile)


def digest_day(request: Request, site: str) -> tuple[date, SiteConfig | None, str]:
    """The digest's `date` (default: today where the site's sales team is), site and time zone."""
    config = request.app.state.collector.settings.sites.get(site)
    timezone = config.timezone if config is not None else "UTC"
    day = site_today(config) if config is not None else datetime.now(UTC).date()
    if "date" in request.query_params:
        day = parse_day(request.query_params["date"])
    return day, config, timezone


async def digest_endpoint(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    """The JSON digest. `format=json` is still accepted; a rendering is its own operation."""
    query_params(request, {"date", "format"})
    fmt = request.query_params.get("format", "json")
    if fmt in RENDERED_DIGEST_FORMATS:
        enum_param("format", fmt, ("json",), f": the {fmt} digest is GET {DIGEST_PATH}/{fmt}")
    enum_param("format", fmt, ("json",))
    day, config, timezone = digest_day(request, site)
    body = await asyncio.to_thread(
        render_digest, store, site, day, "json", timezone, config, public_base(request)
    )
    return Response(body, media_type=digest_render.FORMATS["json"])


async def rendered_digest(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    """The digest as HTML (the email), plain text, Markdown or CSV."""
    query_params(request, {"date"})
    fmt = request.path_params["format"]
    hint = f": the JSON digest is GET {DIGEST_PATH}" if fmt == "json" else ""
    enum_param("format", fmt, RENDERED_DIGEST_FORMATS, hint)
    day, config, timezone = digest_day(request, site)
    body = await asyncio.to_thread(
        render_digest, store, site, day, fmt, timezone, config, public_base(request)
    )
    return Response(body, media_type=digest_render.FORMATS[fmt])


async def delete_visitor(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    visitor = request.path_params["visitor"]
    if not 1 <= len(visitor) <= 200:
        raise BadParam("visitor", "visitor id must be 1 to 200 characters")
    deleted = await asyncio.to_thread(privacy.forget_visitor, store, site, visitor)
    return json_response({"site": site, "visitor": visitor, "deleted": deleted})
