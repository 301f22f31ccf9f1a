"""/api/event: the one endpoint that sees every page view, as a plain ASGI callable (called by
collector.app.CollectorApp ahead of Starlette's middleware, router and Request/Response
objects, whose cost per request shows in make bench's throughput ratio), and the ingest path
from the request to the spool."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from collector import beacon, keys, pipeline
from collector.clientip import IPAddress, client_ip
from collector.errors import error_body
from collector.ratelimit import retry_after
from collector.site_settings import SiteConfig
from collector.spool import SpoolFull
from collector.state import Collector

log = logging.getLogger("intent.collector")

BEACON_PATH = "/api/event"

# An answer from the beacon endpoint: status, headers as sent (ASGI), JSON body.
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def _answer(status: int, headers: dict[str, str], body: bytes) -> Answer:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    if body:
        raw.append((b"content-type", b"application/json"))
    if status != 204:
        raw.append((b"content-length", str(len(body)).encode()))
    return status, raw, body


@lru_cache(maxsize=1024)  # nearly every answer is one of a few: made once (ASGI servers copy)
def _accepted(origin: str | None, accepted: int) -> Answer:
    return _answer(202, _cors(origin), orjson.dumps({"accepted": accepted, "dropped": {}}))


async def beacon_endpoint(c: Collector, scope: Scope, receive: Receive, send: Send) -> None:
    """/api/event: a POST is ingested, an OPTIONS is a CORS preflight, anything else a 405."""
    method = scope["method"]
    headers = _headers(scope)
    if method == "POST":
        try:
            status, raw, body = await ingest(c, scope, headers, receive)
        except ClientDisconnect:
            return  # nobody left to answer
        except Exception:  # nothing a client sends may become a 500
            c.metrics.internal_errors.inc()
            log.exception("unexpected error while ingesting")
            status, raw, body = _answer(
                503, {"Retry-After": "5"}, error_body(503, "temporarily unable to accept events")
            )
    elif method == "OPTIONS":
        status, raw, body = _answer(204, _preflight(headers.get("origin")), b"")
    else:
        status, raw, body = _answer(
            405, {"Allow": "POST, OPTIONS"}, error_body(405, "Method Not Allowed")
        )
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


# The request headers the endpoint reads (ASGI names are lower-case bytes); a browser sends
# ~15 others (sec-ch-ua, accept-language, cookies...) that are never decoded.
_READ = {
    name.encode(): name
    for name in (
        "origin",
        "x-forwarded-for",
        "content-length",
        "authorization",
        "user-agent",
        "dnt",
        "sec-gpc",
    )
}


# Each value is cut to this before anything parses or caches it (a user agent longer than
# useragent.MAX_LENGTH is a bot's either way); X-Forwarded-For keeps its end, our proxies' hops.
MAX_HEADER = 2048


def _headers(scope: Scope) -> dict[str, str]:
    """The headers the endpoint reads, in one pass, each at most MAX_HEADER long. Reversed so
    that, like Starlette's Headers.get, the first of repeated headers wins."""
    read, cap = _READ, MAX_HEADER
    return {
        read[k]: (v[-cap:] if k == b"x-forwarded-for" else v[:cap]).decode("latin-1")
        for k, v in reversed(scope["headers"])
        if k in read
    }


def _cors(origin: str | None) -> dict[str, str]:
    """CORS headers of an answer to the request itself (an answer to the preflight says more)."""
    return (
        {"Vary": "Origin", "Access-Control-Allow-Origin": origin} if origin else {"Vary": "Origin"}
    )


def _preflight(origin: str | None) -> dict[str, str]:
    headers = _cors(origin)
    if origin:
        headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
        headers["Access-Control-Max-Age"] = "86400"
    return headers


def _error(
    status: int,
    message: str,
    headers: dict[str, str],
    code: str | None = None,
    field: str | None = None,
) -> Answer:
    return _answer(status, headers, error_body(status, message, code=code, field=field))


def _too_large() -> beacon.BeaconError:
    return beacon.BeaconError(None, f"body larger than {beacon.MAX_BODY_BYTES} bytes", 413)


async def _read_body(receive: Receive, declared: str | None) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > beacon.MAX_BODY_BYTES:
        raise _too_large()
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > beacon.MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


@lru_cache(maxsize=4096)  # a site's visitors send the same few origins
def _origin_host(origin: str) -> str:
    try:
        return urlsplit(origin).hostname or ""
    except ValueError:
        return "\x00"


@dataclass(slots=True)
class Post:
    """One POST on its way from the socket to the spool."""

    c: Collector
    headers: dict[str, str]
    receive: Receive
    ip: IPAddress | None
    cors: dict[str, str]
    beacons: list[beacon.Beacon] = field(default_factory=list)
    api_key: keys.ApiKey | None = None
    sites: list[SiteConfig] = field(default_factory=list)  # beacons[i] is for sites[i]
    accepted: list[dict[str, Any]] = field(default_factory=list)  # rows, for on_accepted hooks


async def ingest(c: Collector, scope: Scope, headers: dict[str, str], receive: Receive) -> Answer:
    """A POST, top to bottom: CHECKS refuse the whole request or let it on; each event then runs
    pipeline.STEPS; the accepted go to the spool together; the dropped are counted once the
    request is answered 202."""
    client = scope.get("client")
    peer = client[0] if client else None
    ip = client_ip(peer, headers.get("x-forwarded-for"), c.settings.trusted_proxies)
    post = Post(c, headers, receive, ip, _cors(headers.get("origin")))
    for check in CHECKS:
        refused = await check(post)
        if refused is not None:
            return refused
    now = datetime.now(UTC)
    rows, claimed, dropped = run_pipeline(post, now)
    if rows:
        refused = await append_to_spool(post, rows, claimed)
        if refused is not None:
            return refused
        tell_accepted(post)
    return answer_accepted(post, len(rows), dropped, now)


async def refuse_rate_limited(post: Post) -> Answer | None:
    """429 past the client address's token bucket (INTENT_RATE_LIMIT)."""
    assert post.c.limiter is not None
    wait = post.c.limiter.allow(post.ip)  # the address itself: hashing it is cheaper than str()
    if not wait:
        return None
    post.c.metrics.rejected.labels("429").inc()
    return _error(429, "too many requests from this address",
                  {**post.cors, "Retry-After": retry_after(wait)})  # fmt: skip


async def read_beacons(post: Post) -> Answer | None:
    """413 for a body too large, 400 naming the first bad field (collector.beacon). Any content
    type is read as JSON: text/plain avoids a CORS preflight, and a hand-typed curl
    (form-encoded by default) should work too."""
    try:
        body = await _read_body(post.receive, post.headers.get("content-length"))
        post.beacons = beacon.parse(body)
    except beacon.BeaconError as exc:
        post.c.metrics.rejected.labels(str(exc.status)).inc()
        code = None if exc.status != 400 else "invalid_field" if exc.field else "invalid_body"
        return _error(exc.status, exc.message, post.cors, code, exc.field)
    return None


async def check_api_key(post: Post) -> Answer | None:
    """An Authorization header must carry a write key (server-side tracking); none is fine."""
    auth = post.headers.get("authorization")
    if not auth:
        return None
    c = post.c
    token = keys.bearer(auth)
    if token is None or c.store is None:
        return _error(401, "expected Authorization: Bearer KEY", post.cors)
    try:
        post.api_key = await asyncio.to_thread(keys.verify, c.store, token, post.ip)
    except keys.Throttled as exc:  # this address keeps trying keys that do not exist
        c.metrics.rejected.labels("429").inc()
        return _error(429, "too many unknown API keys from this address",
                      {**post.cors, "Retry-After": retry_after(exc.wait)})  # fmt: skip
    if post.api_key is None or post.api_key.scope != "write":
        c.metrics.rejected.labels("401").inc()
        return _error(401, "invalid or read-only API key", post.cors)
    return None


async def refuse_unknown_sites(post: Post) -> Answer | None:
    """403 for a site not configured (or not the key's), or an Origin the site does not list;
    the whole body is refused before anything is counted or remembered."""
    c, api_key = post.c, post.api_key
    origin = post.headers.get("origin")
    origin_host = _origin_host(origin) if origin and origin != "null" else ""
    for b in post.beacons:
        site = c.settings.sites.get(b.site)
        if site is None or (api_key is not None and b.site not in api_key.sites):
            c.metrics.rejected.labels("403").inc()
            return _error(403, f"unknown site {b.site!r}", post.cors, "unknown_site", "site")
        if api_key is None and origin_host and not site.allows_origin(origin_host):
            c.metrics.rejected.labels("403").inc()
            return _error(
                403, "origin not allowed for this site", post.cors, "origin_not_allowed", "origin"
            )
        post.sites.append(site)
    return None


Check = Callable[[Post], Awaitable["Answer | None"]]
CHECKS: tuple[Check, ...] = (
    refuse_rate_limited,  # 429
    read_beacons,  # 413, 400
    check_api_key,  # 401
    refuse_unknown_sites,  # 403
)


def run_pipeline(post: Post, now: datetime) -> tuple[list[bytes], list[str], list[tuple[str, str]]]:
    """Each event through pipeline.STEPS: the accepted rows as JSON lines, the client ids
    they claimed, and (site, reason) of each dropped event."""
    assert post.c.context is not None
    ctx, headers, keyed = post.c.context, post.headers, post.api_key is not None
    ua = headers.get("user-agent", "")
    dnt = headers.get("dnt") == "1" or headers.get("sec-gpc") == "1"
    rows: list[bytes] = []
    claimed: list[str] = []
    dropped: list[tuple[str, str]] = []
    hooked = bool(post.c.on_accepted)
    for b, site in zip(post.beacons, post.sites, strict=True):
        event = pipeline.Event(b, site, post.ip, ua, now, dnt=dnt, keyed=keyed)
        result = pipeline.run(event, ctx)
        if isinstance(result, pipeline.Drop):
            dropped.append((b.site, result.reason))
            continue
        if result.claimed:
            claimed.append(b.row["event_id"])
        rows.append(orjson.dumps(result.row))
        if hooked:
            post.accepted.append(result.row)
    return rows, claimed, dropped


async def append_to_spool(post: Post, rows: list[bytes], claimed: list[str]) -> Answer | None:
    """The accepted rows, durably (collector.spool); 503 when the spool is full, and the ids
    they claimed are forgotten so that the client's retry gets through."""
    c = post.c
    assert c.spool is not None and c.context is not None
    try:
        await c.spool.append(rows, c.loop)
    except SpoolFull as exc:
        c.context.recent.forget(claimed)
        c.metrics.rejected.labels("503").inc()
        c.refusals.note(exc.reason, str(exc))
        return _error(503, "cannot accept events durably right now; retry later",
                      {**post.cors, "Retry-After": "5"})  # fmt: skip
    c.accepted_counter(post.beacons[0].site).inc(len(rows))
    return None


def tell_accepted(post: Post) -> None:
    """The on_accepted hooks, once the rows are on disk; a failing hook changes no answer."""
    for hook in post.c.on_accepted:
        try:
            hook(post.accepted)
        except Exception:
            log.exception("an accepted-events hook failed")


def answer_accepted(
    post: Post, accepted: int, dropped: list[tuple[str, str]], now: datetime
) -> Answer:
    """202, saying how many were accepted and why the others were dropped; each drop is counted
    per (site, day, reason) for `dropped_events` and per reason for /metrics."""
    c = post.c
    reasons: dict[str, int] = {}
    for site_name, reason in dropped:
        reasons[reason] = reasons.get(reason, 0) + 1
        c.drops.add(site_name, now.date(), reason)
        c.dropped_counter(reason).inc()
    if not reasons:
        return _accepted(post.headers.get("origin"), accepted)
    cors = {**post.cors, "X-Intent-Dropped": ", ".join(sorted(reasons))}
    return _answer(202, cors, orjson.dumps({"accepted": accepted, "dropped": reasons}))
