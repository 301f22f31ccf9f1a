"""The collector's ASGI app and its lifecycle: `create_app` puts the beacon endpoint ahead of
Starlette and the health routes before the product's (intent.server composes the server);
`start`, `settle` and `stop` open, finish and drain what ingest needs."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from starlette._utils import get_route_path  # the router's own path-below-root_path
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from collector import health, pipeline, useragent
from collector.endpoint import BEACON_PATH, beacon_endpoint
from collector.enrich.rdns import build_reverse_dns
from collector.errors import error_response
from collector.faults import Faults
from collector.ratelimit import RateLimiter
from collector.secret import server_secret
from collector.spool import Spool
from collector.state import Collector
from collector.store import release_engine_pages
from collector.writer import Salts, Writer

log = logging.getLogger("intent.collector")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    collector: Collector = request.app.state.collector
    collector.metrics.internal_errors.inc()
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(503, "temporarily unavailable", headers={"Retry-After": "5"})


class CollectorApp(Starlette):
    """Starlette, with /api/event answered before the middleware stack and router."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and get_route_path(scope) == BEACON_PATH:
            await beacon_endpoint(self.state.collector, scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


C = TypeVar("C", bound=Collector)


def create_app(
    collector: C,
    routes: Sequence[BaseRoute],
    start: Callable[[C], None],
    stop: Callable[[C], None],
) -> Starlette:
    """The app around a collector: its own routes then `routes`; `start` and `stop` run in the
    lifespan, off the event loop (intent.server passes the product's)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        collector.loop = asyncio.get_running_loop()  # the loop that serves the requests
        await asyncio.to_thread(start, collector)
        try:
            yield
        finally:
            await asyncio.to_thread(stop, collector)

    app = CollectorApp(
        routes=health.routes() + list(routes),
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: unexpected_error},
    )
    app.state.collector = collector
    return app


def start(c: Collector) -> None:
    """Open what ingest needs, on a store already open and migrated (`c.store`): the owner's
    ranges, the salts, the spool, the pipeline, and the writer (which replays whatever a
    previous run left in the spool)."""
    s = c.settings
    assert c.store is not None
    c.enricher.load_ranges(c.store)  # the owner's company ranges; re-read when they change
    salts = Salts(c.store, server_secret(s))  # INTENT_SECRET: never stored in ClickHouse
    salts.prefetch(datetime.now(UTC).date())
    faults = Faults(s.fault_dir)
    c.spool = Spool(
        s.spool_dir, s.spool_max_bytes, s.writer_batch_rows, s.writer_interval_ms / 1000, faults
    )
    c.rdns = build_reverse_dns(s.rdns, s.dns_servers, c.store.insert_rows)
    if c.rdns is not None and c.loop is not None:
        c.loop.call_soon_threadsafe(c.rdns.start)  # its workers run on the serving loop
    c.context = pipeline.Context(enricher=c.enricher, salt=salts, store_ip_prefix=s.store_ip_prefix,
                                 rdns=c.rdns)  # fmt: skip
    c.limiter = RateLimiter(s.rate_limit_per_second, s.rate_limit_burst)
    c.snippet = health.load_snippet()
    useragent.warm_up()  # the parser compiles its regexes now, not on the first request
    c.writer = Writer(c.store, c.spool, c.drops, salts, c.metrics, s.writer_interval_ms / 1000,
                      nice=s.background_nice, faults=faults)  # fmt: skip
    c.writer.start()


def settle(c: Collector) -> None:
    """The end of start-up, once everything the process runs has started."""
    s = c.settings
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
    if c.rdns is not None and c.loop is not None:  # writes the attributions it found
        asyncio.run_coroutine_threadsafe(c.rdns.stop(), c.loop).result(30)
    if c.writer is not None:
        c.writer.stop()
    if c.spool is not None:
        c.spool.close()
    c.enricher.close()
