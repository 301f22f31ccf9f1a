"""/api/event: the one endpoint that sees every page view, as a plain ASGI callable (called by
collector.app.CollectorApp ahead of Starlette's middleware, router and Request/Response
objects, whose cost per request shows in make bench's throughput ratio), and the ingest path
from the request to the spool."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from collector import beacon, keys, pipeline
from collector.clientip import client_ip, parse_ip
from collector.errors import error_body
from collector.ratelimit import retry_after
from collector.settings import SiteConfig
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
            status, raw, body = await _ingest(c, scope, headers, receive)
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


def _headers(scope: Scope) -> dict[str, str]:
    """The headers the endpoint reads, in one pass. Reversed so that, like Starlette's
    Headers.get, the first of repeated headers wins."""
    read = _READ
    return {read[k]: v.decode("latin-1") for k, v in reversed(scope["headers"]) if k in read}


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


async def _ingest(c: Collector, scope: Scope, headers: dict[str, str], receive: Receive) -> Answer:
    assert c.spool is not None and c.context is not None and c.limiter is not None
    cors = _cors(headers.get("origin"))
    metrics = c.metrics
    client = scope.get("client")
    peer = client[0] if client else None
    ip = client_ip(peer, headers.get("x-forwarded-for"), c.settings.trusted_proxies)
    wait = c.limiter.allow(ip)  # the address itself: hashing it is cheaper than str()
    if wait:
        metrics.rejected.labels("429").inc()
        return _error(429, "too many requests from this address",
                      {**cors, "Retry-After": retry_after(wait)})  # fmt: skip
    # Any content type is read as JSON: text/plain avoids a CORS preflight, and a hand-typed
    # curl (form-encoded by default) should work too.
    try:
        body = await _read_body(receive, headers.get("content-length"))
        beacons = beacon.parse(body)
    except beacon.BeaconError as exc:
        metrics.rejected.labels(str(exc.status)).inc()
        code = None if exc.status != 400 else "invalid_field" if exc.field else "invalid_body"
        return _error(exc.status, exc.message, cors, code, exc.field)

    api_key = None
    auth = headers.get("authorization")
    if auth:
        token = keys.bearer(auth)
        if token is None or c.store is None:
            return _error(401, "expected Authorization: Bearer KEY", cors)
        api_key = await asyncio.to_thread(keys.verify, c.store, token)
        if api_key is None or api_key.scope != "write":
            metrics.rejected.labels("401").inc()
            return _error(401, "invalid or read-only API key", cors)

    origin = headers.get("origin")
    origin_host = _origin_host(origin) if origin and origin != "null" else ""
    # Refuse the whole body before anything is counted or remembered.
    sites: list[SiteConfig] = []
    for b in beacons:
        site = c.settings.sites.get(b.site)
        if site is None or (api_key is not None and b.site not in api_key.sites):
            metrics.rejected.labels("403").inc()
            return _error(403, f"unknown site {b.site!r}", cors, "unknown_site", "site")
        if api_key is None and origin_host and not site.allows_origin(origin_host):
            metrics.rejected.labels("403").inc()
            return _error(
                403, "origin not allowed for this site", cors, "origin_not_allowed", "origin"
            )
        sites.append(site)

    now = datetime.now(UTC)
    ua = headers.get("user-agent", "")
    dnt = headers.get("dnt") == "1" or headers.get("sec-gpc") == "1"
    rows: list[bytes] = []
    hooked: list[dict[str, Any]] | None = [] if c.on_accepted else None  # for the hooks
    claimed: list[str] = []  # client ids this request is first to use
    dropped: list[tuple[str, str]] = []  # (site, reason)
    for b, site in zip(beacons, sites, strict=True):
        event_ip, event_ua = ip, ua
        if api_key is not None:  # server-side tracking may pass the visitor's ip and agent
            event_ip = parse_ip(b.client_ip) if b.client_ip else ip
            event_ua = b.client_ua or ua
        result = pipeline.run(pipeline.Event(b, site, event_ip, event_ua, now, dnt=dnt), c.context)
        if isinstance(result, pipeline.Drop):
            dropped.append((b.site, result.reason))
            continue
        if b.client_id:
            if c.recent.seen(b.row["event_id"]):
                dropped.append((b.site, "duplicate"))
                continue
            claimed.append(b.row["event_id"])
        rows.append(orjson.dumps(result.row))
        if hooked is not None:
            hooked.append(result.row)
    if rows:
        try:
            await c.spool.append(rows, c.loop)
        except SpoolFull as exc:
            c.recent.forget(claimed)
            metrics.rejected.labels("503").inc()
            log.warning("answering 503: %s", exc)
            return _error(503, "cannot accept events durably right now; retry later",
                          {**cors, "Retry-After": "5"})  # fmt: skip
        c.accepted_counter(beacons[0].site).inc(len(rows))
        if hooked:
            for hook in c.on_accepted:
                try:
                    hook(hooked)
                except Exception:  # the events are accepted: a hook must not change the answer
                    log.exception("an accepted-events hook failed")
    reasons: dict[str, int] = {}
    for site_name, reason in dropped:  # counted only once the request is answered 202
        reasons[reason] = reasons.get(reason, 0) + 1
        c.drops.add(site_name, now.date(), reason)
        c.dropped_counter(reason).inc()
    if not reasons:
        return _accepted(headers.get("origin"), len(rows))
    cors["X-Intent-Dropped"] = ", ".join(sorted(reasons))
    return _answer(202, cors, orjson.dumps({"accepted": len(rows), "dropped": reasons}))
