"""The ingest pipeline: an ordered list of named steps, each dropping the event with a typed
reason or putting one more field on it. The list below is the documentation of what happens to
an event between the beacon parser and the spool.

Each step is a plain function `(event, context) -> event | Drop`; the context holds the readers,
so steps are tested with no server and no database.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from collector import useragent
from collector.beacon import Beacon
from collector.clientip import IPAddress
from collector.enrich import UNKNOWN, Company, Enricher, NetworkInfo
from collector.enrich.freemail import is_free_mail
from collector.enrich.model import NO_COMPANY
from collector.settings import SiteConfig


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
    network: NetworkInfo = UNKNOWN
    company: Company | None = None
    agent: useragent.Agent | None = None

    @property
    def row(self) -> dict[str, Any]:
        return self.beacon.row


@dataclass
class Context:
    enricher: Enricher = field(default_factory=Enricher)
    salt: Callable[[date], bytes] = lambda day: b"intent-default-salt"
    store_ip_prefix: bool = False


Step = Callable[[Event, Context], "Event | Drop"]


def drop_dnt(event: Event, ctx: Context) -> Event | Drop:
    """Do-Not-Track / Global Privacy Control, when the site says to honour them."""
    if event.site.respect_dnt and event.dnt:
        return Drop("dnt")
    return event


def put_user_agent(event: Event, ctx: Context) -> Event | Drop:
    agent = useragent.parse(event.user_agent)
    event.agent = agent
    event.row.update(agent.fields)  # browser, browser_version, os, os_version, device
    return event


def drop_bot(event: Event, ctx: Context) -> Event | Drop:
    if event.agent is not None and event.agent.bot:
        return Drop(event.agent.bot)
    return event


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


def put_network(event: Event, ctx: Context) -> Event | Drop:
    net = ctx.enricher.network(event.ip)
    event.network = net
    event.row.update(net.fields)  # country, region, city, asn, as_org, isp, organization, ...
    return event


def drop_hosting(event: Event, ctx: Context) -> Event | Drop:
    """Cloud, data-centre, VPN and proxy traffic behaves like bots, not buyers."""
    if event.site.drop_hosting and event.network.traffic_class == "hosting":
        return Drop("bot:hosting")
    return event


def put_company(event: Event, ctx: Context) -> Event | Drop:
    """identify > the site owner's ranges > MaxMind organisation > ASN organisation."""
    domain = event.beacon.email_domain
    company: Company | None
    if domain:
        company = None if is_free_mail(domain) else Company(domain, domain, "", "identify", 1.0)
    else:
        company = ctx.enricher.company(event.ip, event.network, event.site)
    event.company = company
    event.row.update(company.fields if company else NO_COMPANY)  # company_key, ..., confidence
    return event


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


def put_ip_prefix(event: Event, ctx: Context) -> Event | Drop:
    """Raw IPs are never stored; at most a /24 or /48 prefix when the deployment opts in."""
    prefix = ""
    if ctx.store_ip_prefix and event.ip is not None:
        bits = 24 if event.ip.version == 4 else 48
        prefix = str(ipaddress.ip_network(f"{event.ip}/{bits}", strict=False))
    event.row["ip_prefix"] = prefix
    return event


STEPS: tuple[Step, ...] = (
    drop_dnt,
    put_user_agent,
    drop_bot,  # bot:empty, bot:headless, bot:http-client, bot:crawler, bot:ua
    put_visitor_id,
    put_network,  # geo, ASN, organisation, connection type -> traffic class
    drop_hosting,  # bot:hosting
    put_company,  # identify > owner ranges > MaxMind > ASN, with source + confidence
    drop_excluded,  # excluded:cidr, excluded:domain
    put_ip_prefix,
)


def run(event: Event, ctx: Context, steps: tuple[Step, ...] = STEPS) -> Event | Drop:
    for step in steps:
        result = step(event, ctx)
        if isinstance(result, Drop):
            return result
        event = result
    # isoformat is ~5x cheaper than strftime; same text ("2026-01-31 12:00:00.123")
    ts = event.ts if event.ts.tzinfo is UTC else event.ts.astimezone(UTC)
    event.row["ts"] = ts.replace(tzinfo=None).isoformat(" ", "milliseconds")
    return event
