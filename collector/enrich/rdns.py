"""Reverse DNS as a company source, looked up in the background so it never delays a 202.

The pipeline asks `ReverseDNS.company` on the event loop: an address whose answer is cached gets
its company at once (source `rdns`); any other address of a business or unknown line is queued,
and the visit is remembered. Workers on the same loop resolve queued addresses (rate-limited,
with a timeout) and cache every outcome for a while, negative ones too. When a confirmed company
arrives, each waiting visit gets an `attributions` row (site, day, visitor id -> company) and the
company a `daily_companies` row, written in batches: scoring then counts that visitor's activity
of the day for the company, as it does for an identified visitor's earlier visits.

Only the company's registrable domain leaves this module: neither the address nor the host name
is written anywhere, logs included.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dns.asyncresolver
import dns.resolver

from collector.clientip import IPAddress
from collector.enrich import psl
from collector.enrich.hostnames import company_from_hostname, network_domains
from collector.enrich.model import Company, NetworkInfo
from collector.enrich.ptr import LookupFailed, confirmed_name, make_resolver
from collector.enrich.traffic import ORGANISATION_CLASSES
from collector.site_settings import SiteConfig

log = logging.getLogger("intent.enrich")

# Lines a company may own; an ISP's, carrier's or host's address never names one.
LOOKUP_CLASSES = ORGANISATION_CLASSES | {"unknown"}
WEAKER_SOURCES = frozenset({"asn"})  # a confirmed name is surer than the AS owner


@dataclass(frozen=True)
class Limits:
    """How much the resolver may do. Defaults fit one collector process."""

    timeout_s: float = 5.0  # one address, PTR and forward lookups together
    per_second: float = 20.0  # lookups started per second (token bucket)
    burst: int = 50
    queue: int = 2048  # addresses waiting; past it a visit is left to the weaker sources
    workers: int = 16  # lookups in flight at once
    visits_per_address: int = 256  # visits remembered per address while it is resolved
    cache: int = 65536  # addresses whose outcome is remembered
    ttl_s: float = 6 * 3600.0  # a confirmed company
    negative_ttl_s: float = 3600.0  # no name, or a name that names nobody
    failure_ttl_s: float = 600.0  # the resolver did not answer
    flush_s: float = 1.0  # attribution rows are written at most this often
    pending_rows: int = 50_000  # rows kept for a retry while the database refuses them


@dataclass(frozen=True, slots=True)
class Visit:
    """A stored visit waiting for its address's answer."""

    site: SiteConfig
    visitor_id: str
    from_key: str  # the company it was stored with ('' for none)
    ts: datetime
    country: str
    traffic_class: str


Insert = Callable[[str, Sequence[Mapping[str, Any]]], object]


class ReverseDNS:
    """All state belongs to the event loop's thread: `company` is called by the pipeline there,
    and the workers run there."""

    def __init__(
        self,
        resolver: dns.asyncresolver.Resolver,
        insert: Insert,
        limits: Limits | None = None,
    ) -> None:
        self.resolver = resolver
        self.insert = insert
        self.limits = limits or Limits()
        self._cache: dict[IPAddress, tuple[float, Company | None]] = {}
        self._waiting: dict[IPAddress, list[Visit]] = {}
        self._queue: asyncio.Queue[IPAddress] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._rows: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self._companies: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._tokens = float(self.limits.burst)
        self._refilled = time.monotonic()
        self.counts = {"lookups": 0, "confirmed": 0, "failed": 0, "queue_full": 0,
                       "cache_hits": 0, "attributed": 0}  # fmt: skip

    # --- the hot path ----------------------------------------------------------------------

    def company(
        self,
        ip: IPAddress | None,
        network: NetworkInfo,
        fallback: Company | None,
        site: SiteConfig,
        visitor_id: str,
        ts: datetime,
    ) -> Company | None:
        """The cached company of this address, else `fallback` (after queueing a lookup that
        attributes this visit later, when the line may be a company's)."""
        if ip is None or network.traffic_class not in LOOKUP_CLASSES:
            return fallback
        cached = self._cache.get(ip)
        if cached is not None and cached[0] > time.monotonic():
            self.counts["cache_hits"] += 1
            return cached[1] or fallback
        queue = self._queue
        if queue is None or not ip.is_global:
            return fallback
        visit = Visit(site, visitor_id, fallback.key if fallback else "", ts, network.country,
                      network.traffic_class)  # fmt: skip
        waiting = self._waiting.get(ip)
        if waiting is not None:
            if len(waiting) < self.limits.visits_per_address:
                waiting.append(visit)
            return fallback
        if queue.full():
            self.counts["queue_full"] += 1
            return fallback
        self._waiting[ip] = [visit]
        queue.put_nowait(ip)
        return fallback

    def remember(self, ip: IPAddress, company: Company | None) -> None:
        """Take an answer found without asking a resolver (`intent demo`'s shipped reverse
        zone): cached and attributed exactly as a resolver's answer would be."""
        limits = self.limits
        self._answer(ip, company, limits.ttl_s if company else limits.negative_ttl_s)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers and the row writer on the running loop."""
        self._queue = asyncio.Queue(self.limits.queue)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work()) for _ in range(self.limits.workers)]
        self._tasks.append(loop.create_task(self._flush_every()))

    async def stop(self) -> None:
        """Stop looking up (queued addresses are forgotten) and write what was found."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks, self._queue = [], None
        self._waiting.clear()
        await self.flush()
        log.info("reverse DNS: %(lookups)d lookup(s), %(confirmed)d company name(s), "
                 "%(failed)d failed, %(queue_full)d visit(s) not queued (queue full), "
                 "%(attributed)d visit(s) attributed later", self.counts)  # fmt: skip

    # --- the workers -----------------------------------------------------------------------

    async def _work(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            ip = await queue.get()
            await self._take_token()
            company, ttl = await self._resolve(ip)
            self._answer(ip, company, ttl)

    async def _take_token(self) -> None:
        """Token bucket shared by the workers: a worker that finds none reserves the next."""
        now = time.monotonic()
        limits = self.limits
        self._tokens = min(limits.burst, self._tokens + (now - self._refilled) * limits.per_second)
        self._refilled = now
        self._tokens -= 1
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens / limits.per_second)

    async def _resolve(self, ip: IPAddress) -> tuple[Company | None, float]:
        self.counts["lookups"] += 1
        limits = self.limits
        try:
            async with asyncio.timeout(limits.timeout_s):
                name = await confirmed_name(self.resolver, ip)
        except (LookupFailed, TimeoutError) as exc:
            self.counts["failed"] += 1
            log.debug("reverse DNS lookup failed: %s", exc)  # never the address
            return None, limits.failure_ttl_s
        company = company_from_hostname(name, ip) if name else None
        if company is None:
            return None, limits.negative_ttl_s
        self.counts["confirmed"] += 1
        return company, limits.ttl_s

    def _answer(self, ip: IPAddress, company: Company | None, ttl: float) -> None:
        cache = self._cache
        if ip not in cache and len(cache) >= self.limits.cache:
            del cache[next(iter(cache))]  # the oldest entry
        cache[ip] = (time.monotonic() + ttl, company)
        visits = self._waiting.pop(ip, [])
        if company is None:
            return
        for visit in visits:
            if not _excluded(visit.site, company.domain):
                self._attribute(visit, company)

    def _attribute(self, visit: Visit, company: Company) -> None:
        day = visit.ts.date()
        ts = visit.ts.isoformat(" ", "milliseconds")[:23]
        key = (visit.site.name, day.isoformat(), visit.visitor_id, visit.from_key)
        self._rows[key] = {
            "site": visit.site.name, "day": day.isoformat(), "visitor_id": visit.visitor_id,
            "from_key": visit.from_key, "company_key": company.key,
            "company_domain": company.domain, "company_name": company.name,
            "company_source": company.source, "confidence": company.confidence, "ts": ts,
        }  # fmt: skip
        day_key = (visit.site.name, day.isoformat(), company.key)
        seen = self._companies.get(day_key)
        if seen is None:
            self._companies[day_key] = {
                "site": visit.site.name, "day": day.isoformat(), "company_key": company.key,
                "company_domain": company.domain, "company_name": company.name,
                "company_source": company.source, "confidence": company.confidence,
                "country": visit.country, "traffic_class": visit.traffic_class, "events": 0,
                "first_ts": ts, "last_ts": ts,
            }  # fmt: skip
        else:
            seen["first_ts"], seen["last_ts"] = min(seen["first_ts"], ts), max(seen["last_ts"], ts)
        self.counts["attributed"] += 1

    # --- writing ---------------------------------------------------------------------------

    async def _flush_every(self) -> None:
        while True:
            await asyncio.sleep(self.limits.flush_s)
            await self.flush()

    async def flush(self) -> None:
        """Write the attributions found so far (in a thread: an insert takes milliseconds)."""
        if not self._rows:
            return
        rows, companies = list(self._rows.values()), list(self._companies.values())
        self._rows, self._companies = {}, {}
        try:
            await asyncio.to_thread(self._write, rows, companies)
        except Exception as exc:  # the database is away: keep a bounded backlog for next time
            log.warning("could not write %d reverse-DNS attribution(s): %s", len(rows), exc)
            if len(self._rows) + len(rows) <= self.limits.pending_rows:
                for row in rows:
                    visit = (row["site"], row["day"], row["visitor_id"], row["from_key"])
                    self._rows.setdefault(visit, row)
                for row in companies:
                    day = (row["site"], row["day"], row["company_key"])
                    self._companies.setdefault(day, row)

    def _write(self, rows: list[dict[str, Any]], companies: list[dict[str, Any]]) -> None:
        # The company's day row first: scoring finds a company's name and source there.
        self.insert("daily_companies", companies)
        self.insert("attributions", rows)


def _excluded(site: SiteConfig, domain: str) -> bool:
    """The site's own staff and customers are not intent (drop_excluded, for late answers)."""
    return any(domain == x or domain.endswith("." + x) for x in site.exclude_domains)


def build_reverse_dns(
    enabled: bool,
    servers: tuple[tuple[str, int], ...],
    insert: Insert,
    limits: Limits | None = None,
) -> ReverseDNS | None:
    """The background resolver of INTENT_RDNS / INTENT_DNS_SERVERS, or None when it is off or
    the machine has no resolver configured (a warning: the other sources still work)."""
    if not enabled:
        return None
    limits = limits or Limits()
    try:
        resolver = make_resolver(servers, limits.timeout_s)
    except dns.resolver.NoResolverConfiguration:
        log.warning("reverse DNS off: no resolver in /etc/resolv.conf; set INTENT_DNS_SERVERS")
        return None
    psl.load()  # parsed here, at start-up, not by the first answer on the event loop
    network_domains()
    where = ", ".join(f"{a}:{p}" for a, p in servers) or "the system resolver"
    log.info("reverse DNS lookups through %s", where)
    return ReverseDNS(resolver, insert, limits)
