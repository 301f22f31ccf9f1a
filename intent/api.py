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
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from collector import keys
from collector.clientip import client_ip
from collector.errors import error_response
from collector.ratelimit import RateLimiter, retry_after
from collector.settings import Settings, SiteConfig, site_today
from collector.store import Store, StoreError, ch_time
from intent import companies, digest, digest_render, privacy, timestamps
from intent.accounts.fit import GRADES
from intent.accounts.matching import attach_accounts, owned_by
from intent.scoring import TIERS, rules_of

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2199, 12, 31)  # of a digest
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
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


class BadParam(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def dumps(value: Any) -> bytes:
    return timestamps.dumps(value)


def json_response(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json")


# Query parameters -----------------------------------------------------------------------------


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not low <= int(raw) <= high:
        raise BadParam(name, f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def enum_param(name: str, value: str, allowed: Sequence[str], hint: str = "") -> str:
    """`value` when it is one of `allowed`; otherwise BadParam naming the parameter and the values."""
    if value not in allowed:
        raise BadParam(name, f"{name} must be one of {', '.join(allowed)} (got {value!r}){hint}")
    return value


# A date, or an RFC 3339 date-time with its offset: what the spec's `format: date` and
# `format: date-time` admit (a leap second and year 0000 included), nothing more.
_SINCE = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:[Tt](?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})(?P<frac>\.\d+)?"
    r"(?:[Zz]|(?P<sign>[+-])(?P<oh>\d{2}):(?P<om>\d{2})))?",
    re.ASCII,  # \d is 0-9 only: int() would read other scripts' digits too
)
UNTIL = datetime(2200, 1, 1, tzinfo=UTC)


def _month_days(year: int, month: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]


def _moment(m: re.Match[str]) -> datetime | None:
    """The matched moment in UTC, within [EPOCH, UNTIL]; None if there is no such day or time.
    As a lower bound, a moment before 1970 means 1970 and one after 2199 means 2200."""
    n = {k: int(v) for k, v in m.groupdict("0").items() if k not in ("frac", "sign")}
    if not (1 <= n["mo"] <= 12 and 1 <= n["d"] <= _month_days(n["y"], n["mo"]) and n["h"] <= 23
            and n["mi"] <= 59 and n["s"] <= 60 and n["oh"] <= 23 and n["om"] <= 59):  # fmt: skip
        return None
    sign = -1 if m["sign"] == "-" else 1
    if n["s"] == 60 and (n["h"] * 60 + n["mi"] - sign * (n["oh"] * 60 + n["om"])) % 1440 != 1439:
        return None  # a leap second is 23:59:60 UTC
    if not 1969 <= n["y"] < 2200:
        return EPOCH if n["y"] < 1969 else UNTIL
    offset = timedelta(hours=n["oh"], minutes=n["om"]) * sign
    micro = int((m["frac"] or ".")[1:7].ljust(6, "0"))
    local = datetime(n["y"], n["mo"], n["d"], n["h"], n["mi"], min(n["s"], 59), micro,
                     tzinfo=timezone(offset))  # fmt: skip
    return min(max(local.astimezone(UTC), EPOCH), UNTIL)


def parse_since(raw: str) -> datetime:
    """A date (midnight UTC) or an RFC 3339 date-time with its offset."""
    # An unencoded "+01:00" arrives as " 01:00": the one form read beyond the spec.
    m = _SINCE.fullmatch(re.sub(r" ([0-9]{2}:[0-9]{2})$", r"+\1", raw))
    moment = _moment(m) if m else None
    if moment is None:
        raise BadParam(
            "updated_since",
            "updated_since must be a date (2025-01-31) or an RFC 3339 date-time with its offset "
            "(2025-01-31T09:00:00Z, 2025-01-31T10:00:00+01:00)",
        )
    return moment


def parse_day(raw: str) -> date:
    """A digest's `date`: YYYY-MM-DD from FIRST_DAY to LAST_DAY (the spec's format and pattern)."""
    try:  # fromisoformat alone would also read 20261231 and 2026-W53-4
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
            raise ValueError
        day = date.fromisoformat(raw)
    except ValueError:
        raise BadParam("date", "date must be YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadParam("date", f"date must be from {FIRST_DAY} to {LAST_DAY}")
    return day


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


def query_params(request: Request, known: set[str]) -> QueryParams:
    """The query string; an unknown name or an empty value (`date=`) is refused, naming it."""
    q = request.query_params
    for name, value in q.multi_items():
        if name not in known:
            raise BadParam(name, f"unknown parameter {name!r} (known: {', '.join(sorted(known))})")
        if not value:
            raise BadParam(name, f"{name} is empty: give it a value or leave it out")
    return q


def company_filters(request: Request) -> dict[str, Any]:
    """Bound parameters for LIST_COMPANIES from the query string; BadParam names a bad one."""
    q = query_params(
        request,
        {
            "tier",
            "min_score",
            "country",
            "updated_since",
            "limit",
            "cursor",
            "owner",
            "fit",
            "claimed",
        },
    )
    tier = q.get("tier", "")
    if tier:
        enum_param("tier", tier, TIERS)
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
    if claimed:
        enum_param("claimed", claimed, ("true", "false"))
    since = parse_since(q["updated_since"]) if "updated_since" in q else EPOCH
    after_t, after_k = decode_cursor(q["cursor"]) if "cursor" in q else (EPOCH, "")
    owner = q.get("owner", "").strip()
    if len(owner) > 200:
        raise BadParam("owner", "owner is an email address, a name or 'none'")
    # fit=A,B (the spec's form, explode false) or fit=A&fit=B (what generated clients send)
    fits = {f.strip() for raw in q.getlist("fit") for f in raw.split(",") if f.strip()}
    for grade in fits:
        enum_param("fit", grade, GRADES)
    return {
        "tier": tier, "country": country, "min_score": min_score, "since": ch_time(since),
        "claimed": {"": -1, "true": 1, "false": 0}[claimed],
        "after_t": ch_time(after_t), "after_k": after_k,
        "limit": int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        "owner": owner, "fits": sorted(fits),
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
        # intent.accounts.matching.attach_accounts: the CRM account and the fit grade
        "account": row.get("account"),
        "fit": row.get("fit"),
        "fit_reasons": row.get("fit_reasons", []),
        # intent.alerts.claims: who claimed the company, and when
        "claimed_by": row["claimed_by"] or None,
        "claimed_at": row["claimed_at"] if row["claimed_by"] else None,
    }


SCAN_BATCH = 1000  # companies read per query while owner=/fit= filter a page
SCAN_BATCHES = 20  # past this a filtered page ends short, with a cursor to go on from


def list_companies(
    store: Store, site: str, params: dict[str, Any], config: SiteConfig | None = None
) -> dict[str, Any]:
    """One keyset page. owner= and fit= are known only once accounts are attached, so a filtered
    page reads batches until it has `limit` companies, or ends short after SCAN_BATCHES with a
    cursor after the last company read."""
    config = config or SiteConfig(site, ())
    limit, owner, fits = params["limit"], params.get("owner", ""), set(params.get("fits", ()))
    filtered = bool(owner or fits)
    bound = {k: v for k, v in params.items() if k not in ("owner", "fits")}
    batch = max(limit + 1, SCAN_BATCH) if filtered else limit + 1
    kept: list[dict[str, Any]] = []
    last: dict[str, Any] | None = None  # the last company read, kept or not
    exhausted = False
    for _ in range(SCAN_BATCHES if filtered else 1):
        rows = store.query_dicts(companies.LIST_COMPANIES, {**bound, "site": site, "limit": batch})
        attach_accounts(store, config, rows)
        for row in rows:
            last = row
            if not filtered or _wanted(row, owner, fits):
                kept.append(row)
                if len(kept) > limit:
                    break
        if len(kept) > limit:
            break
        if len(rows) < batch or last is None:
            exhausted = True
            break
        bound["after_t"], bound["after_k"] = ch_time(last["changed_at"]), last["company_key"]
    page = kept[:limit]
    more = len(kept) > limit or not exhausted
    at = page[-1] if len(kept) > limit else last
    cursor = encode_cursor(at["changed_at"], at["company_key"]) if more and at else None
    return {"data": [company_json(r) for r in page], "has_more": more, "next_cursor": cursor}


def _wanted(row: dict[str, Any], owner: str, fits: set[str]) -> bool:
    return (not fits or row.get("fit") in fits) and (
        not owner or owned_by(row.get("account"), owner)
    )


def company_profile(
    store: Store, site: str, company: str, days: int, config: SiteConfig | None = None
) -> dict[str, Any] | None:
    latest = store.query_dicts(companies.COMPANY_LATEST, {"site": site, "company": company})
    if not latest:
        return None
    attach_accounts(store, config or SiteConfig(site, ()), latest)
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


def render_digest(
    store: Store,
    site: str,
    day: date,
    fmt: str,
    timezone: str = "UTC",
    config: SiteConfig | None = None,
) -> bytes:
    """The daily digest (intent.digest: the same one emailed to sales) in one format."""
    rules = rules_of(config) if config is not None else None
    built = digest.build_digest(store, site, day, timezone=timezone, rules=rules, config=config)
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
    return json_response(await asyncio.to_thread(list_companies, store, site, params, config))


async def company_endpoint(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    query_params(request, {"days"})
    days = int_param(request, "days", 30, 1, MAX_DAYS)
    name = request.path_params["company"]
    config = site_config(request, site)
    profile = await asyncio.to_thread(company_profile, store, site, name, days, config)
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


def only_params(request: Request, known: Sequence[str]) -> None:
    query_params(request, set(known))


async def digest_endpoint(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    """The JSON digest. `format=json` is still accepted; a rendering is its own operation."""
    only_params(request, ("date", "format"))
    fmt = request.query_params.get("format", "json")
    if fmt in RENDERED_DIGEST_FORMATS:
        enum_param("format", fmt, ("json",), f": the {fmt} digest is GET {DIGEST_PATH}/{fmt}")
    enum_param("format", fmt, ("json",))
    day, config, timezone = digest_day(request, site)
    body = await asyncio.to_thread(render_digest, store, site, day, "json", timezone, config)
    return Response(body, media_type=digest_render.FORMATS["json"])


async def rendered_digest(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    """The digest as HTML (the email), plain text, Markdown or CSV."""
    only_params(request, ("date",))
    fmt = request.path_params["format"]
    hint = f": the JSON digest is GET {DIGEST_PATH}" if fmt == "json" else ""
    enum_param("format", fmt, RENDERED_DIGEST_FORMATS, hint)
    day, config, timezone = digest_day(request, site)
    body = await asyncio.to_thread(render_digest, store, site, day, fmt, timezone, config)
    return Response(body, media_type=digest_render.FORMATS[fmt])


async def delete_visitor(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    visitor = request.path_params["visitor"]
    if not 1 <= len(visitor) <= 200:
        raise BadParam("visitor", "visitor id must be 1 to 200 characters")
    deleted = await asyncio.to_thread(privacy.forget_visitor, store, site, visitor)
    return json_response({"site": site, "visitor": visitor, "deleted": deleted})
