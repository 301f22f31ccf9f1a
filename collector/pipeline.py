"""The ingest pipeline: an ordered list of named steps, each dropping the event with a typed
reason or putting one more field on it. `STEPS` below is the documentation of what happens to an
event between the beacon parser and the spool (collector.endpoint runs it for each event of a
request that passed the request's own checks; docs/architecture.md walks the whole path).

Each step is a plain function `(event, context) -> event | Drop`; the context holds the readers,
so steps are tested with no server and no database. A step marked `@per_visitor` reads only
the site, the address, the agent and the day's salt: what those steps make of a visitor is
cached (`VisitorCache`), so a visit's later events replay it instead of running them again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any

from collector import aiagents, useragent
from collector.beacon import Beacon
from collector.clientip import IPAddress, parse_ip
from collector.dedup import RecentIds
from collector.enrich import UNKNOWN, Company, Enricher, NetworkInfo
from collector.enrich.freemail import is_free_mail
from collector.enrich.model import NO_COMPANY
from collector.enrich.rdns import WEAKER_SOURCES, ReverseDNS
from collector.site_settings import SiteConfig


@dataclass(frozen=True, slots=True)
class Drop:
    reason: str


@dataclass(slots=True)
class Event:
    """One event on its way through the pipeline; `row` becomes one `events` row."""

    beacon: Beacon
    site: SiteConfig
    ip: IPAddress | None
    user_agent: str
    ts: datetime
    dnt: bool = False
    keyed: bool = False  # sent with a write key: server-side tracking (see put_client)
    network: NetworkInfo = UNKNOWN
    company: Company | None = None
    agent: useragent.Agent | None = None
    claimed: bool = False  # the first to use its client-sent id (see drop_duplicate)

    @property
    def row(self) -> dict[str, Any]:
        return self.beacon.row


@dataclass
class Context:
    enricher: Enricher = field(default_factory=Enricher)
    salt: Callable[[date], bytes] = lambda day: b"intent-default-salt"
    store_ip_prefix: bool = False
    visitors: VisitorCache = field(default_factory=lambda: VisitorCache())  # see run()
    rdns: ReverseDNS | None = None  # background reverse DNS (INTENT_RDNS)
    recent: RecentIds = field(default_factory=RecentIds)  # client ids seen lately


Step = Callable[[Event, Context], "Event | Drop"]
_PER_VISITOR: set[Step] = set()


def per_visitor(step: Step) -> Step:
    """Mark a step that reads nothing of the beacon, only the site, the address, the agent and
    the day's salt (and only adds row fields): its outcome is cached per visitor."""
    _PER_VISITOR.add(step)
    return step


def put_client(event: Event, ctx: Context) -> Event | Drop:
    """Server-side tracking (a write key) may pass the visitor's own address and agent."""
    if event.keyed:
        b = event.beacon
        if b.client_ip:
            event.ip = parse_ip(b.client_ip)
        if b.client_ua:
            event.user_agent = b.client_ua
    return event


def drop_dnt(event: Event, ctx: Context) -> Event | Drop:
    """Do-Not-Track / Global Privacy Control, when the site says to honour them."""
    if event.site.respect_dnt and event.dnt:
        return Drop("dnt")
    return event


@per_visitor
def put_user_agent(event: Event, ctx: Context) -> Event | Drop:
    agent = useragent.parse(event.user_agent)
    event.agent = agent
    event.row.update(agent.fields)  # browser, browser_version, os, os_version, device
    return event


@per_visitor
def drop_bot(event: Event, ctx: Context) -> Event | Drop:
    if event.agent is not None and event.agent.bot:
        return Drop(event.agent.bot)
    return event


@per_visitor
def put_visitor_id(event: Event, ctx: Context) -> Event | Drop:
    """A keyed hash of (daily salt, site, IP, user agent): no cookie, unlinkable across days.
    An opaque id from the snippet is used only when the site allows persistent ids."""
    if event.beacon.client_visitor and event.site.allow_visitor_id:
        event.row["visitor_id"] = persistent_visitor_id(
            event.site.name, event.beacon.client_visitor
        )
        return event
    ip = event.ip.packed if event.ip is not None else b""
    data = b"d\x00" + event.site.name.encode() + b"\x00" + ip + b"\x00" + event.user_agent.encode()
    key = ctx.salt(event.ts.date())
    event.row["visitor_id"] = hashlib.blake2b(data, key=key[:64], digest_size=8).hexdigest()
    return event


def persistent_visitor_id(site: str, client_visitor: str) -> str:
    """The stored id for a site-supplied visitor id (also how the API finds it to forget it)."""
    data = b"v\x00" + site.encode() + b"\x00" + client_visitor.encode()
    return hashlib.blake2b(data, key=b"intent-persistent-visitor", digest_size=8).hexdigest()


@per_visitor
def put_network(event: Event, ctx: Context) -> Event | Drop:
    net = ctx.enricher.network(event.ip)
    event.network = net
    event.row.update(net.fields)  # country, region, city, asn, as_org, isp, organization, ...
    return event


@per_visitor
def put_ai_agent(event: Event, ctx: Context) -> Event | Drop:
    """An AI agent browsing for a person has its own traffic class, whatever network it came from
    (a cloud's, mostly): drop_hosting keeps it, put_company gives it no company."""
    if event.agent is not None and event.agent.ai_agent:
        event.network = dataclasses.replace(event.network, traffic_class=aiagents.TRAFFIC_CLASS)
        event.row["traffic_class"] = aiagents.TRAFFIC_CLASS
    return event


@per_visitor
def drop_hosting(event: Event, ctx: Context) -> Event | Drop:
    """Cloud, data-centre, VPN and proxy traffic behaves like bots, not buyers."""
    if event.site.drop_hosting and event.network.traffic_class == "hosting":
        return Drop("bot:hosting")
    return event


@per_visitor
def put_company(event: Event, ctx: Context) -> Event | Drop:
    """identify > the site owner's ranges > MaxMind organisation > reverse DNS > ASN
    organisation. Reverse DNS answers from its cache; a lookup it starts attributes the visit
    later (collector.enrich.rdns). An AI agent is nobody's company, even when it fills in a
    form with a work address."""
    domain = event.beacon.email_domain
    company: Company | None
    if event.network.traffic_class == aiagents.TRAFFIC_CLASS:
        company = None
    elif domain:
        company = None if is_free_mail(domain) else Company(domain, domain, "", "identify", 1.0)
    else:
        company = ctx.enricher.company(event.ip, event.network, event.site)
        if ctx.rdns is not None and (company is None or company.source in WEAKER_SOURCES):
            company = ctx.rdns.company(event.ip, event.network, company, event.site,
                                       event.row["visitor_id"], event.ts)  # fmt: skip
    event.company = company
    event.row.update(company.fields if company else NO_COMPANY)  # company_key, ..., confidence
    return event


@per_visitor
def drop_excluded(event: Event, ctx: Context) -> Event | Drop:
    """The site's own staff and existing customers are not intent."""
    site = event.site
    ip = event.ip
    if (
        ip is not None
        and site.exclude_cidrs
        and any(ip.version == n.version and ip in n for n in site.exclude_cidrs)
    ):
        return Drop("excluded:cidr")
    company = event.company
    if company and company.domain and site.exclude_domains:
        d = company.domain
        if any(d == x or d.endswith("." + x) for x in site.exclude_domains):
            return Drop("excluded:domain")
    return event


@per_visitor
def put_ip_prefix(event: Event, ctx: Context) -> Event | Drop:
    """Raw IPs are never stored; at most a /24 or /48 prefix when the deployment opts in."""
    prefix = ""
    if ctx.store_ip_prefix and event.ip is not None:
        bits = 24 if event.ip.version == 4 else 48
        prefix = str(ipaddress.ip_network(f"{event.ip}/{bits}", strict=False))
    event.row["ip_prefix"] = prefix
    return event


def drop_duplicate(event: Event, ctx: Context) -> Event | Drop:
    """A retried beacon (the same client-sent id) is stored once; the endpoint forgets the ids
    it claimed when the spool refuses the request, so the retry gets through."""
    if event.beacon.client_id:
        if ctx.recent.seen(event.row["event_id"]):
            return Drop("duplicate")
        event.claimed = True
    return event


def put_ts(event: Event, ctx: Context) -> Event | Drop:
    # isoformat is ~5x cheaper than strftime, and slicing off "+00:00" cheaper than replace():
    # "2026-01-31 12:00:00.123"
    ts = event.ts if event.ts.tzinfo is UTC else event.ts.astimezone(UTC)
    event.row["ts"] = ts.isoformat(" ", "milliseconds")[:23]
    return event


STEPS: tuple[Step, ...] = (
    put_client,  # a write key's event: the visitor's own address and agent
    drop_dnt,  # dnt
    put_user_agent,
    drop_bot,  # bot:empty, bot:too-long, bot:headless, bot:http-client, bot:crawler, bot:ua
    put_visitor_id,
    put_network,  # geo, ASN, organisation, connection type -> traffic class
    put_ai_agent,  # traffic class ai-agent: kept, counted, never a company
    drop_hosting,  # bot:hosting
    put_company,  # identify > owner ranges > MaxMind > reverse DNS > ASN, source + confidence
    drop_excluded,  # excluded:cidr, excluded:domain
    put_ip_prefix,
    drop_duplicate,  # duplicate
    put_ts,
)


def _split(steps: tuple[Step, ...]) -> tuple[tuple[Step, ...], ...]:
    """STEPS as (before, per visitor, after): the per-visitor steps must stand together."""
    marked = [i for i, step in enumerate(steps) if step in _PER_VISITOR]
    first, last = marked[0], marked[-1] + 1
    assert marked == list(range(first, last)), "the @per_visitor steps must be consecutive"
    return steps[:first], steps[first:last], steps[last:]


BEFORE_VISITOR, VISITOR_STEPS, AFTER_VISITOR = _split(STEPS)


def run(event: Event, ctx: Context) -> Event | Drop:
    """STEPS in order. After a visitor's first event, what VISITOR_STEPS made of it comes from
    the cache, unless the beacon identifies a company or carries the site's own visitor id
    (then those steps read the beacon)."""
    result = _run_steps(event, ctx, BEFORE_VISITOR)
    if isinstance(result, Drop):
        return result
    b = result.beacon
    if b.email_domain or (b.client_visitor and result.site.allow_visitor_id):
        result = _run_steps(result, ctx, VISITOR_STEPS)
    else:
        result = _run_visitor(result, ctx)
    if isinstance(result, Drop):
        return result
    return _run_steps(result, ctx, AFTER_VISITOR)


def _run_steps(event: Event, ctx: Context, steps: tuple[Step, ...]) -> Event | Drop:
    for step in steps:
        result = step(event, ctx)
        if isinstance(result, Drop):
            return result
        event = result
    return event


# What VISITOR_STEPS made of one visitor: its drop, or the row fields they added (in order) and
# the event attributes they set.
Visit = tuple[dict[str, Any], tuple[tuple[str, Any], ...]]
VisitorKey = tuple[int, "IPAddress | None", str, bytes]
_ATTRIBUTES = Event.__slots__


class VisitorCache:
    """The outcome of VISITOR_STEPS per (site, address, agent, day's salt), so the pages and
    events of one visit run those steps once: a visitor sends a few to a few dozen events, and
    replaying the outcome costs a fraction of running the steps (docs/benchmarks.md).

    An entry holds its site object: the key holds only its id, which no other object can have
    while the entry keeps this one alive. Entries are valid for one generation of the enricher (a
    reload of the owner's ranges or of a MaxMind file starts a new one), so an outcome is never
    replayed after what made it changed. Past `size` entries the oldest goes first."""

    def __init__(self, size: int = 16384) -> None:
        self.size = size
        self._entries: dict[VisitorKey, tuple[SiteConfig, Drop | Visit]] = {}
        self._generation = -1
        self.hits = 0
        self.misses = 0

    def get(self, key: VisitorKey, generation: int) -> Drop | Visit | None:
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        return found[1]

    def put(self, key: VisitorKey, site: SiteConfig, outcome: Drop | Visit) -> None:
        entries = self._entries
        if len(entries) >= self.size:
            del entries[next(iter(entries))]
        entries[key] = (site, outcome)


def _run_visitor(event: Event, ctx: Context) -> Event | Drop:
    """VISITOR_STEPS, or what they made of this visitor earlier today."""
    site = event.site
    key = (id(site), event.ip, event.user_agent, ctx.salt(event.ts.date()))
    outcome = ctx.visitors.get(key, ctx.enricher.generation)
    if outcome is None:
        row = event.row
        known = len(row)
        before = [getattr(event, name) for name in _ATTRIBUTES]
        result = _run_steps(event, ctx, VISITOR_STEPS)
        if isinstance(result, Drop):
            ctx.visitors.put(key, site, result)
            return result
        added = dict(islice(row.items(), known, None))  # dicts keep insertion order
        changed = tuple(
            (name, value)
            for name, old in zip(_ATTRIBUTES, before, strict=True)
            if (value := getattr(result, name)) is not old
        )
        ctx.visitors.put(key, site, (added, changed))
        return result
    if isinstance(outcome, Drop):
        return outcome
    added, changed = outcome
    event.row.update(added)  # the same fields, in the same order, as the steps put them
    for name, value in changed:
        setattr(event, name, value)
    return event
