"""`/api/v1`: the CRM sync API. Bearer API keys scoped to sites (another site's data is a 404,
so site names do not leak), a token bucket per key, orjson bodies, the one error shape.

Pagination is keyset on (changed_at, company_key) over each company's latest snapshot: a
company rescored while a client pages gets a newer changed_at and shows up again later, but a
company is never skipped (docs/api.md).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from collector import keys
from collector.clientip import client_ip
from collector.errors import error_response
from collector.ratelimit import RateLimiter, retry_after
from collector.settings import Settings
from collector.store import Store, StoreError, ch_time
from intent import digest, privacy
from intent.alerts.claims import CURRENT as CURRENT_CLAIMS
from intent.schedule import site_today

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
FAILED_AUTH_BURST = 30  # bad keys an address may try before it is slowed to one per second
FAILED_AUTH_PER_SECOND = 1.0
MAX_DAYS = 365
DIGEST_FORMATS = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}

# Site data is private and may hold visitor-controlled text (titles, paths): never cached,
# never sniffed, and HTML (the digest) can load nothing and run no script.
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
}

COMPANY_COLUMNS = """
    company_key, company_name, company_domain, country, company_source, confidence, score, tier,
    previous_tier, previous_score, transition, reasons, visitors, active_days, first_seen,
    last_seen, top_pages, is_customer, day, changed_at
"""

# Each company's current claim (intent.alerts.claims): who, when ('' when unclaimed).
CLAIMED = f"""
    LEFT JOIN (SELECT company_key, who AS claimed_by, claimed_at FROM ({CURRENT_CLAIMS}))
        AS claim USING (company_key)
"""
# Each company's latest snapshot (company_latest, kept by a view: 0032), filtered, after the
# cursor, in keyset order.
LIST_COMPANIES = f"""
    SELECT {COMPANY_COLUMNS}, claimed_by, claimed_at
    FROM company_latest FINAL
    {CLAIMED}
    WHERE site = {{site:String}}
      AND ({{claimed:Int8}} = -1 OR (claimed_by != '') = {{claimed:Int8}})
      AND ({{tier:String}} = '' OR tier = {{tier:String}})
      AND score >= {{min_score:Float64}}
      AND ({{country:String}} = '' OR country = {{country:String}})
      AND changed_at >= {{since:DateTime64(3, 'UTC')}}
      AND (changed_at, company_key) > ({{after_t:DateTime64(3, 'UTC')}}, {{after_k:String}})
    ORDER BY changed_at, company_key
    LIMIT {{limit:UInt32}}
"""
COMPANY_LATEST = f"""
    SELECT {COMPANY_COLUMNS}, claimed_by, claimed_at
    FROM company_latest FINAL
    {CLAIMED}
    WHERE site = {{site:String}} AND company_key = {{company:String}}
"""
SCORE_HISTORY = """
    SELECT day, score, tier, transition, reasons
    FROM company_scores FINAL
    WHERE site = {site:String} AND company_key = {company:String} AND day >= {start:Date}
    ORDER BY day
"""
COMPANY_VISITORS = """
    SELECT uniqExact(visitor_id)
    FROM daily_activity
    WHERE site = {site:String} AND company_key = {company:String} AND day >= {start:Date}
"""
COMPANY_TIMELINE = """
    SELECT day, kind, key, sum(hits) AS hits, sum(engaged_ms) AS engaged_ms,
           max(max_scroll) AS max_scroll, uniqExact(visitor_id) AS visitors
    FROM daily_activity
    WHERE site = {site:String} AND company_key = {company:String} AND day >= {start:Date}
    GROUP BY day, kind, key
    ORDER BY day DESC, kind, hits DESC, key
    LIMIT 50 BY day, kind
"""


class BadParam(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z)


def json_response(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json")


# Query parameters -----------------------------------------------------------------------------


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"\d{1,9}", raw) or not low <= int(raw) <= high:
        raise BadParam(name, f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def parse_since(raw: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is UTC."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            value = datetime.combine(date.fromisoformat(raw), datetime.min.time())
        else:  # an unencoded "+01:00" arrives as " 01:00"
            value = datetime.fromisoformat(
                re.sub(r" (\d{2}:?\d{2})$", r"+\1", raw.replace("z", "Z"))
            )
    except ValueError:
        raise BadParam(
            "updated_since", "updated_since must be an ISO 8601 date or date-time"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if not EPOCH <= value < datetime(2200, 1, 1, tzinfo=UTC):
        raise BadParam("updated_since", "updated_since is out of range")
    return value


def encode_cursor(changed_at: datetime, company_key: str) -> str:
    moment = changed_at if changed_at.tzinfo else changed_at.replace(tzinfo=UTC)
    ms = int(moment.timestamp() * 1000)
    raw = orjson.dumps([ms, company_key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ms, key = orjson.loads(raw)
        if not isinstance(ms, int) or not isinstance(key, str) or not 0 <= ms < 7_258_118_400_000:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise BadParam("cursor", "cursor is not one this API returned") from None
    return EPOCH + timedelta(milliseconds=ms), key


def company_filters(request: Request) -> dict[str, Any]:
    """Bound parameters for LIST_COMPANIES from the query string; BadParam names a bad one."""
    q = request.query_params
    known = {"tier", "min_score", "country", "updated_since", "limit", "cursor", "claimed"}
    for name in q:
        if name not in known:
            raise BadParam(name, f"unknown parameter {name!r} (known: {', '.join(sorted(known))})")
    tier = q.get("tier", "")
    if tier and not re.fullmatch(r"[a-z_]{1,20}", tier):
        raise BadParam("tier", "tier is a word such as hot, warm or cold")
    country = q.get("country", "").upper()
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        raise BadParam("country", "country is a two-letter ISO 3166 code")
    min_score = 0.0
    if q.get("min_score"):
        try:
            min_score = float(q["min_score"])
        except ValueError:
            raise BadParam("min_score", "min_score must be a number") from None
        if not 0 <= min_score <= 1e9:
            raise BadParam("min_score", "min_score must be from 0 to 1e9")
    claimed = q.get("claimed", "")
    if claimed not in ("", "true", "false"):
        raise BadParam("claimed", "claimed is true or false")
    since = parse_since(q["updated_since"]) if q.get("updated_since") else EPOCH
    after_t, after_k = decode_cursor(q["cursor"]) if q.get("cursor") else (EPOCH, "")
    return {
        "tier": tier, "country": country, "min_score": min_score, "since": ch_time(since),
        "claimed": {"": -1, "true": 1, "false": 0}[claimed],
        "after_t": ch_time(after_t), "after_k": after_k,
        "limit": int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
    }  # fmt: skip


# Data -----------------------------------------------------------------------------------------


def company_json(row: dict[str, Any]) -> dict[str, Any]:
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
        "claimed_by": row["claimed_by"] or None,
        "claimed_at": row["claimed_at"] if row["claimed_by"] else None,
    }


def list_companies(store: Store, site: str, params: dict[str, Any]) -> dict[str, Any]:
    limit = params["limit"]
    rows = store.query_dicts(LIST_COMPANIES, {**params, "site": site, "limit": limit + 1})
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1]["changed_at"], rows[-1]["company_key"]) if more else None
    return {"data": [company_json(r) for r in rows], "has_more": more, "next_cursor": cursor}


def company_profile(store: Store, site: str, company: str, days: int) -> dict[str, Any] | None:
    latest = store.query_dicts(COMPANY_LATEST, {"site": site, "company": company})
    if not latest:
        return None
    start = datetime.now(UTC).date() - timedelta(days=days - 1)
    bound = {"site": site, "company": company, "start": start}
    history = store.query_dicts(SCORE_HISTORY, bound)
    visitors = int(store.scalar(COMPANY_VISITORS, bound) or 0)
    timeline: dict[date, dict[str, Any]] = {}
    for r in store.query_dicts(COMPANY_TIMELINE, bound):
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
        **company_json(latest[0]),
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


def render_digest(store: Store, site: str, day: date, fmt: str, timezone: str = "UTC") -> bytes:
    """The daily digest (intent.digest: the same one emailed to sales) in one format."""
    built = digest.build_digest(store, site, day, timezone=timezone)
    body, _content_type = digest.render(built, fmt)
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
            Route("/api/v1/openapi.json", openapi_document, methods=["GET"]),
            Route("/api/v1/sites/{site}/companies", self.guarded(companies), methods=["GET"]),
            Route("/api/v1/sites/{site}/companies/{company:path}", self.guarded(company), methods=["GET"]),
            Route("/api/v1/sites/{site}/digest", self.guarded(digest_endpoint), methods=["GET"]),
            Route("/api/v1/sites/{site}/visitors/{visitor}", self.guarded(delete_visitor, write=True), methods=["DELETE"]),
        ]  # fmt: skip


async def companies(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    params = company_filters(request)
    return json_response(await asyncio.to_thread(list_companies, store, site, params))


async def company(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    for name in request.query_params:
        if name != "days":
            raise BadParam(name, f"unknown parameter {name!r} (known: days)")
    days = int_param(request, "days", 30, 1, MAX_DAYS)
    name = request.path_params["company"]
    profile = await asyncio.to_thread(company_profile, store, site, name, days)
    if profile is None:
        return error_response(
            404, f"no company {name!r} on this site", code="company_not_found", field="company"
        )
    return json_response(profile)


async def digest_endpoint(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    q = request.query_params
    for name in q:
        if name not in ("date", "format"):
            raise BadParam(name, f"unknown parameter {name!r} (known: date, format)")
    fmt = q.get("format", "json")
    if fmt not in DIGEST_FORMATS:
        raise BadParam("format", f"format must be one of {', '.join(DIGEST_FORMATS)}")
    config = request.app.state.collector.settings.sites.get(site)
    timezone = config.timezone if config is not None else "UTC"
    day = site_today(config) if config is not None else datetime.now(UTC).date()
    if q.get("date"):
        try:
            day = date.fromisoformat(q["date"])
        except ValueError:
            raise BadParam("date", "date must be YYYY-MM-DD") from None
        if not date(1970, 1, 1) <= day <= date(2199, 12, 31):
            raise BadParam("date", "date is out of range")
    body = await asyncio.to_thread(render_digest, store, site, day, fmt, timezone)
    return Response(body, media_type=DIGEST_FORMATS[fmt])


async def delete_visitor(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    visitor = request.path_params["visitor"]
    if not 1 <= len(visitor) <= 200:
        raise BadParam("visitor", "visitor id must be 1 to 200 characters")
    deleted = await asyncio.to_thread(privacy.forget_visitor, store, site, visitor)
    return json_response({"site": site, "visitor": visitor, "deleted": deleted})


async def openapi_document(request: Request) -> Response:
    from intent.openapi import document

    return Response(document(), media_type="application/json")
