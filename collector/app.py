"""The one ASGI app: the beacon endpoint, health, metrics, the snippet, and the intent API."""

from __future__ import annotations

import asyncio
import gc
import gzip
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from prometheus_client import Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette._utils import get_route_path  # the router's own path-below-root_path
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from collector import beacon, pipeline, useragent
from collector.clientip import _addr, client_ip
from collector.enrich import Enricher, build_enricher
from collector.errors import error_body, error_response
from collector.metrics import Metrics
from collector.ratelimit import RateLimiter, retry_after
from collector.secret import server_secret
from collector.settings import Settings, SiteConfig
from collector.spool import Spool, SpoolFull
from collector.writer import DropCounter, Salts, Writer
from intent import keys, remote, webhooks
from intent.schedule import ScoringSchedule
from intent.store import Store, StoreError, connect, release_engine_pages

log = logging.getLogger("intent.collector")

# How every uvicorn that serves this app must run. uvicorn believes X-Forwarded-For from
# 127.0.0.1 by default (proxy_headers, FORWARDED_ALLOW_IPS) and rewrites the peer address
# before the app sees it; only INTENT_TRUSTED_PROXIES may decide that (collector.clientip).
# No access log: it would write visitors' raw IPs.
UVICORN_OPTIONS: dict[str, Any] = {
    "proxy_headers": False,
    "server_header": False,
    "access_log": False,
    "log_level": "warning",
    "http": "collector.httplimits:LimitedHttpToolsProtocol",  # its limits: docs/collector.md
}


class RecentIds:
    """Client-sent event ids seen lately (bounded, per process): a retried beacon is stored once."""

    def __init__(self, size: int = 200_000) -> None:
        self.size = size
        self.ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, event_id: str) -> bool:
        """True if already seen; otherwise remember it and return False."""
        if event_id in self.ids:
            return True
        self.ids[event_id] = None
        if len(self.ids) > self.size:
            self.ids.popitem(last=False)
        return False

    def forget(self, event_ids: list[str]) -> None:
        """The request that claimed these ids was not accepted: a retry must get through."""
        for event_id in event_ids:
            self.ids.pop(event_id, None)


@dataclass
class Collector:
    """Everything the endpoints share, created once per app."""

    settings: Settings
    enricher: Enricher
    metrics: Metrics = field(default_factory=Metrics)
    drops: DropCounter = field(default_factory=DropCounter)
    recent: RecentIds = field(default_factory=RecentIds)
    store: Store | None = None
    spool: Spool | None = None
    writer: Writer | None = None
    context: pipeline.Context | None = None
    limiter: RateLimiter | None = None
    snippet: tuple[bytes, bytes, str] | None = None  # plain, gzipped, etag
    deliverer: webhooks.Deliverer | None = None
    cli_token: str | None = None  # intent.remote: CLI commands run here while we hold chDB
    schedule: ScoringSchedule | None = None
    # Set by the lifespan: on Python 3.11 each asyncio.get_running_loop() is a getpid() system
    # call (strace under load: 0.8 per request, the only one the bare app does not make).
    loop: asyncio.AbstractEventLoop | None = None
    _accepted: dict[str, Counter] = field(default_factory=dict)
    _dropped: dict[str, Counter] = field(default_factory=dict)

    def accepted_counter(self, site: str) -> Counter:
        """The site's accepted-events counter (labels() costs a few µs; kept per site)."""
        counter = self._accepted.get(site)
        if counter is None:
            counter = self._accepted[site] = self.metrics.accepted.labels(site)
        return counter

    def dropped_counter(self, reason: str) -> Counter:
        """The dropped-events counter of one reason, kept like `accepted_counter`."""
        counter = self._dropped.get(reason)
        if counter is None:
            counter = self._dropped[reason] = self.metrics.dropped.labels(reason)
        return counter


def _snippet() -> tuple[bytes, bytes, str] | None:
    try:
        body = resources.files("collector").joinpath("static/intent.js").read_bytes()
    except (FileNotFoundError, OSError):
        return None
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return body, gzip.compress(body, 9, mtime=0), etag


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
    """/api/event as a plain ASGI callable, ahead of Starlette's middleware, router and
    Request/Response objects (`CollectorApp`): this is the one endpoint that sees every page
    view, and what they cost per request shows in make bench's throughput ratio."""
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
    auth = headers.get("authorization", "")
    if auth:
        if not auth.lower().startswith("bearer ") or c.store is None:
            return _error(401, "expected Authorization: Bearer KEY", cors)
        try:
            api_key = await asyncio.to_thread(keys.verify, c.store, auth[7:].strip(), ip)
        except keys.Throttled as exc:
            metrics.rejected.labels("429").inc()
            return _error(429, "too many unknown API keys from this address",
                          {**cors, "Retry-After": retry_after(exc.wait)})  # fmt: skip
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
    claimed: list[str] = []  # client ids this request is first to use
    dropped: list[tuple[str, str]] = []  # (site, reason)
    for b, site in zip(beacons, sites, strict=True):
        event_ip, event_ua = ip, ua
        if api_key is not None:  # server-side tracking may pass the visitor's ip and agent
            event_ip = _addr(b.client_ip) if b.client_ip else ip
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
    reasons: dict[str, int] = {}
    for site_name, reason in dropped:  # counted only once the request is answered 202
        reasons[reason] = reasons.get(reason, 0) + 1
        c.drops.add(site_name, now.date(), reason)
        c.dropped_counter(reason).inc()
    if not reasons:
        return _accepted(headers.get("origin"), len(rows))
    cors["X-Intent-Dropped"] = ", ".join(sorted(reasons))
    return _answer(202, cors, orjson.dumps({"accepted": len(rows), "dropped": reasons}))


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def readyz(request: Request) -> Response:
    c: Collector = request.app.state.collector
    problems = []
    if c.store is None or not await asyncio.to_thread(c.store.ping):
        problems.append("clickhouse unreachable")
    if c.spool is None or c.spool.refusing or c.spool.bytes >= c.spool.max_bytes * 0.9:
        problems.append("spool full")
    if c.writer is not None and not c.writer.healthy:
        problems.append(f"writer failing: {c.writer.last_error}")
    body = {"status": "ok" if not problems else "unavailable", "problems": problems,
            "spool_bytes": c.spool.bytes if c.spool else 0,
            "spool_segments": len(c.spool.segments()) if c.spool else 0}  # fmt: skip
    return Response(
        orjson.dumps(body), status_code=200 if not problems else 503, media_type="application/json"
    )


async def metrics_endpoint(request: Request) -> Response:
    c: Collector = request.app.state.collector
    if c.spool is not None:
        c.metrics.spool_bytes.set(c.spool.bytes)
        c.metrics.spool_fsyncs.set(c.spool.fsyncs)
    return Response(generate_latest(c.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def snippet(request: Request) -> Response:
    c: Collector = request.app.state.collector
    if c.snippet is None:
        return error_response(404, "the snippet is not built (cd js-snippet && npm run build)")
    plain, gz, etag = c.snippet
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=86400, stale-while-revalidate=604800",
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        plain = gz
    return Response(plain, media_type="application/javascript; charset=utf-8", headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    collector: Collector = request.app.state.collector
    collector.metrics.internal_errors.inc()
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(503, "temporarily unavailable", headers={"Retry-After": "5"})


def collector_routes() -> list[BaseRoute]:
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/js/intent.js", snippet, methods=["GET"]),
    ]


class CollectorApp(Starlette):
    """Starlette, with /api/event answered before the middleware stack and router."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and get_route_path(scope) == BEACON_PATH:
            await beacon_endpoint(self.state.collector, scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


BEACON_PATH = "/api/event"


def create_app(settings: Settings, enricher: Enricher | None = None) -> Starlette:
    """The app; the database, spool and writer open in its lifespan."""
    collector = Collector(settings=settings, enricher=enricher or build_enricher(settings))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        collector.loop = asyncio.get_running_loop()  # the loop that serves the requests
        await asyncio.to_thread(start, collector)
        try:
            yield
        finally:
            await asyncio.to_thread(stop, collector)

    from intent import api, dashboard  # they import this module: load them once the app is defined

    routes = collector_routes() + api.routes(settings) + remote.routes() + dashboard.routes()
    app = CollectorApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: unexpected_error},
    )
    app.state.collector = collector
    return app


def start(c: Collector) -> None:
    from intent.migrate import migrate

    s = c.settings
    c.store = connect(s.clickhouse_url)
    migrate(c.store, s)
    c.enricher.load_ranges(c.store)  # the owner's company ranges; re-read when they change
    salts = Salts(c.store, server_secret(s))  # INTENT_SECRET: never stored in ClickHouse
    salts.prefetch(datetime.now(UTC).date())
    c.spool = Spool(
        s.spool_dir, s.spool_max_bytes, s.writer_batch_rows, s.writer_interval_ms / 1000
    )
    c.context = pipeline.Context(enricher=c.enricher, salt=salts, store_ip_prefix=s.store_ip_prefix)
    c.limiter = RateLimiter(s.rate_limit_per_second, s.rate_limit_burst)
    c.snippet = _snippet()
    useragent.warm_up()  # the parser compiles its regexes now, not on the first request
    c.writer = Writer(c.store, c.spool, c.drops, salts, c.metrics, s.writer_interval_ms / 1000,
                      nice=s.background_nice)  # fmt: skip
    c.writer.start()  # replays whatever a previous run left in the spool
    c.deliverer = webhooks.start(c.store, s, c.metrics)  # sends what a previous run left queued
    c.cli_token = remote.publish_token(s)
    # Hourly scoring and each site's digest at its local time, in a background thread.
    if s.schedule:
        c.schedule = ScoringSchedule(s, c.store)
        c.schedule.start()
    # Everything loaded so far (chDB, pyarrow, parsers, regex tables) lives as long as the
    # process: out of the collector's sight, a full collection no longer stalls the event loop
    # for 35-140 ms scanning it (measured with make bench's open-loop latency run).
    gc.collect()
    gc.freeze()
    # Each request allocates a few hundred short-lived containers: at the default threshold
    # (700) the young generation was collected every ~70 requests, ~2.7 µs per request in all
    # (measured with gc.callbacks under bench load); every 10,000 allocations it is ~0.9 µs.
    gc.set_threshold(10_000, 20, 20)
    released = release_engine_pages()  # start-up's share of chDB's library, never needed again
    lowered = lower_engine_threads(s.background_nice)
    log.info("collector ready: %d site(s), spool %s, released %d MB of start-up pages, "
             "%d engine thread(s) at nice %d", len(s.sites), s.spool_dir, released >> 20, lowered,
             s.background_nice)  # fmt: skip


# The engine's threads that give freed memory back to the system keep their priority: lowered,
# a busy minute held ~10-30 MB more (RSS after make bench's rounds, alternating runs).
_MEMORY_THREADS = frozenset({"MemoryWorker", "jemalloc_bg_thd"})


def lower_engine_threads(nice: int) -> int:
    """Lower the CPU priority of the embedded engine's threads (inserts, merges, their pools).

    On a busy machine they compete for the cores with the event loop, which is what answers
    visitors: the writer and the merges can catch up a moment later (the spool holds what they
    have not written), a visitor's request cannot wait. The writer thread lowers its own
    priority, so what the engine starts while inserting inherits it. Python's threads (the
    event loop, its executor) and the spool's sync helper process keep theirs; so do the
    engine's threads that return freed memory, and threads it starts later for API queries.
    Returns how many threads were lowered."""
    if nice <= 0:
        return 0
    ours = {t.native_id for t in threading.enumerate()}
    lowered = 0
    for task in Path("/proc/self/task").iterdir():
        tid = int(task.name)
        if tid in ours:
            continue
        try:
            if (task / "comm").read_text().strip() in _MEMORY_THREADS:
                continue
            os.setpriority(os.PRIO_PROCESS, tid, max(nice, os.getpriority(os.PRIO_PROCESS, tid)))
        except OSError:  # the thread ended meanwhile
            continue
        lowered += 1
    return lowered


def stop(c: Collector) -> None:
    """SIGTERM: drain the spool into ClickHouse before exiting."""
    if c.schedule is not None:  # stop scheduled scoring first: it feeds webhooks and the store
        c.schedule.stop()
    if c.deliverer is not None:
        c.deliverer.stop()
    remote.withdraw_token(c.settings, c.cli_token)
    if c.writer is not None:
        c.writer.stop()
    if c.spool is not None:
        c.spool.close()
    c.enricher.close()


def store_of(app: Starlette) -> Store:
    store: Store | None = app.state.collector.store
    if store is None:
        raise StoreError("the store is not open yet")
    return store


class _CoalescingTransport:
    """A transport that joins a write to the next one made in the same turn of the event loop:
    uvicorn writes an answer's status line and headers, then its body, as two writes, hence two
    system calls and, with TCP_NODELAY, two packets. A write with nothing after it in that turn
    (the headers of a streamed answer) leaves at the end of the turn; later writes of a stream
    go straight through, so the transport's flow control still sees them as they are made."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = data
            self._loop.call_soon(self._flush)
        else:
            self._held = None
            self._transport.write(b"".join((held, data)))

    def _flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():  # the client may have gone meanwhile
                self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
