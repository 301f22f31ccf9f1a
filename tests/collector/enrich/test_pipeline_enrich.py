"""The enrichment and privacy steps run through pipeline.run with a Context: no server."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector import beacon, pipeline
from collector.enrich import Enricher
from collector.enrich.geoip import open_databases
from collector.site_settings import SiteConfig
from tests.conftest import CHROME_UA

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ctx(mmdb: dict[str, Path]) -> pipeline.Context:
    databases, _ = open_databases((mmdb["enterprise"], mmdb["asn"], mmdb["anonymous_ip"]))
    return pipeline.Context(enricher=Enricher(databases))


def run(ctx: pipeline.Context, address: str, body: dict[str, Any] | None = None,
        site: SiteConfig | None = None, **event: Any) -> pipeline.Event | pipeline.Drop:  # fmt: skip
    site = site or SiteConfig(name="s", domains=("example.com",))
    doc = {"site": site.name, "url": "https://example.com/pricing", **(body or {})}
    (b,) = beacon.parse(orjson.dumps(doc))
    ev = pipeline.Event(b, site, ipaddress.ip_address(address), CHROME_UA, NOON, **event)
    return pipeline.run(ev, ctx)


def row(result: pipeline.Event | pipeline.Drop) -> dict[str, Any]:
    assert isinstance(result, pipeline.Event), result
    return result.row


def test_corporate_visit_carries_company_source_confidence_and_network(
    ctx: pipeline.Context,
) -> None:
    r = row(run(ctx, "198.51.100.7"))
    assert {k: r[k] for k in ("company_key", "company_domain", "company_name", "company_source",
                              "confidence", "traffic_class", "country", "city", "asn", "isp",
                              "organization", "connection_type")} == {
        "company_key": "acme-widgets.example", "company_domain": "acme-widgets.example",
        "company_name": "Acme Widgets GmbH", "company_source": "maxmind", "confidence": 0.8,
        "traffic_class": "business", "country": "DE", "city": "Berlin", "asn": 3320,
        "isp": "Deutsche Telekom AG", "organization": "Acme Widgets GmbH",
        "connection_type": "Corporate",
    }  # fmt: skip


def test_home_and_mobile_visits_are_kept_without_a_company(ctx: pipeline.Context) -> None:
    for address, cls in (("203.0.113.9", "isp"), ("2001:db8:ce11::3", "mobile")):
        r = row(run(ctx, address))
        assert (r["traffic_class"], r["company_key"], r["company_source"], r["confidence"]) == (
            cls,
            "",
            "",
            0.0,
        )


def test_hosting_is_dropped_as_a_bot_unless_the_site_keeps_it(ctx: pipeline.Context) -> None:
    assert run(ctx, "100.64.1.1") == pipeline.Drop("bot:hosting")
    assert run(ctx, "198.18.5.5") == pipeline.Drop("bot:hosting")  # VPN exit
    keeps = SiteConfig(name="s", domains=("example.com",), drop_hosting=False)
    r = row(run(ctx, "2001:db8:c10d::1", site=keeps))
    assert (r["traffic_class"], r["company_key"]) == ("hosting", "")


def test_identify_keeps_the_domain_only_and_free_mail_never_identifies(
    ctx: pipeline.Context,
) -> None:
    work = row(run(ctx, "203.0.113.9", {"type": "identify", "email": "Jane.Doe@Initech.Example"}))
    assert (work["company_key"], work["company_domain"], work["company_source"], work["confidence"]) == (
        "initech.example", "initech.example", "identify", 1.0)  # fmt: skip
    assert "jane" not in str(work).lower()
    free = ("someone@gmail.com", "someone@outlook.com", "x@mailinator.com", "x@guerrillamail.com",
            "x@10minutemail.com", "abc123@privaterelay.appleid.com")  # fmt: skip
    for address in free:
        free = row(run(ctx, "203.0.113.9", {"type": "identify", "email": address}))
        assert (free["company_key"], free["company_source"]) == ("", ""), address


def test_identify_beats_the_network_company(ctx: pipeline.Context) -> None:
    r = row(run(ctx, "198.51.100.7", {"type": "identify", "domain": "globex.example"}))
    assert (r["company_key"], r["company_source"]) == ("globex.example", "identify")


def test_visitor_ids_change_with_the_days_salt(ctx: pipeline.Context) -> None:
    def visitor(salt: bytes) -> str:
        c = pipeline.Context(enricher=ctx.enricher, salt=lambda day: salt)
        return str(row(run(c, "198.51.100.7"))["visitor_id"])

    monday, tuesday = visitor(b"a" * 64), visitor(b"b" * 64)
    assert monday == visitor(b"a" * 64)  # same day, same person: one visitor
    assert monday != tuesday  # next day's salt: unlinkable
    assert "198.51.100.7" not in monday


def test_only_a_prefix_is_kept_and_only_when_asked(ctx: pipeline.Context) -> None:
    assert row(run(ctx, "198.51.100.7"))["ip_prefix"] == ""
    c = pipeline.Context(enricher=ctx.enricher, store_ip_prefix=True)
    assert row(run(c, "198.51.100.7"))["ip_prefix"] == "198.51.100.0/24"
    assert row(run(c, "2001:db8:ac:1:2:3:4:5"))["ip_prefix"] == "2001:db8:ac::/48"


def test_dnt_and_gpc_drop_only_where_the_site_honours_them(ctx: pipeline.Context) -> None:
    honours = SiteConfig(name="s", domains=("example.com",), respect_dnt=True)
    assert run(ctx, "198.51.100.7", site=honours, dnt=True) == pipeline.Drop("dnt")
    assert isinstance(run(ctx, "198.51.100.7", site=honours, dnt=False), pipeline.Event)
    assert isinstance(run(ctx, "198.51.100.7", dnt=True), pipeline.Event)


def test_excluded_domains_apply_to_identified_companies(ctx: pipeline.Context) -> None:
    own = SiteConfig(name="s", domains=("example.com",), exclude_domains=("acme-widgets.example",))
    assert run(ctx, "198.51.100.7", site=own) == pipeline.Drop("excluded:domain")


def test_own_offices_by_cidr_are_dropped_as_excluded(ctx: pipeline.Context) -> None:
    from collector.site_settings import parse_cidrs

    own = SiteConfig(name="s", domains=("example.com",),
                     exclude_cidrs=parse_cidrs(["203.0.113.0/28", "2001:db8:cab1::/64"]))  # fmt: skip
    assert run(ctx, "203.0.113.9", site=own) == pipeline.Drop("excluded:cidr")
    assert run(ctx, "2001:db8:cab1::9", site=own) == pipeline.Drop("excluded:cidr")
    assert isinstance(run(ctx, "203.0.113.99", site=own), pipeline.Event)


def test_a_site_sent_visitor_id_is_used_only_where_the_site_allows_it(
    ctx: pipeline.Context,
) -> None:
    body = {"visitor": "crm-contact-42"}
    daily = row(run(ctx, "198.51.100.7", body))["visitor_id"]
    allows = SiteConfig(name="s", domains=("example.com",), allow_visitor_id=True)
    persistent = row(run(ctx, "203.0.113.9", body, site=allows))["visitor_id"]
    assert persistent == pipeline.persistent_visitor_id("s", "crm-contact-42") != daily
    assert "crm-contact-42" not in persistent


# -- the visitor cache: a visit's later events replay what the steps made of its first ------


def test_a_visits_later_events_replay_the_first_ones_fields(ctx: pipeline.Context) -> None:
    site = SiteConfig(name="s", domains=("example.com",))
    c = pipeline.Context(enricher=ctx.enricher)
    first = row(run(c, "198.51.100.7", site=site))
    later = row(run(c, "198.51.100.7", {"url": "https://example.com/demo"}, site=site))
    assert (c.visitors.hits, c.visitors.misses) == (1, 1)
    fresh = row(run(pipeline.Context(enricher=ctx.enricher), "198.51.100.7", site=site))
    same = set(first) - {"event_id", "url", "path", "ts"}
    assert {k: later[k] for k in same} == {k: first[k] for k in same} == {k: fresh[k] for k in same}
    assert list(later) == list(fresh)  # the same columns in the same order
    assert (later["path"], later["company_key"]) == ("/demo", "acme-widgets.example")
    # a dropped visitor stays dropped, for the same reason
    assert run(c, "100.64.1.1", site=site) == run(c, "100.64.1.1", site=site)
    assert run(c, "100.64.1.1", site=site) == pipeline.Drop("bot:hosting")
    assert c.visitors.hits == 3


def test_the_cache_keeps_sites_agents_and_days_apart(ctx: pipeline.Context) -> None:
    salts = {NOON.date(): b"a" * 64}
    c = pipeline.Context(enricher=ctx.enricher, salt=lambda day: salts.get(day, b"b" * 64))
    drops = SiteConfig(name="s", domains=("example.com",))
    keeps = SiteConfig(name="s", domains=("example.com",), drop_hosting=False)  # same name
    assert run(c, "100.64.1.1", site=drops) == pipeline.Drop("bot:hosting")
    assert row(run(c, "100.64.1.1", site=keeps))["traffic_class"] == "hosting"
    site = SiteConfig(name="s", domains=("example.com",))
    today = row(run(c, "198.51.100.7", site=site))["visitor_id"]
    (b,) = beacon.parse(orjson.dumps({"site": "s", "url": "https://example.com/"}))
    next_day = pipeline.Event(b, site, ipaddress.ip_address("198.51.100.7"), CHROME_UA,
                              NOON.replace(day=24))  # fmt: skip
    tomorrow = row(pipeline.run(next_day, c))["visitor_id"]
    assert today != tomorrow  # the next day's salt: a new visitor, never the cached one
    bot = pipeline.Event(b, site, ipaddress.ip_address("198.51.100.7"), "curl/8.5.0", NOON)
    assert pipeline.run(bot, c) == pipeline.Drop("bot:http-client")  # same address, other agent
    assert c.visitors.hits == 0


def test_an_import_of_the_owners_ranges_is_seen_by_a_cached_visitor(
    mmdb: dict[str, Path],
) -> None:
    from collector.enrich.ranges import RangeTable, parse_csv

    databases, _ = open_databases((mmdb["enterprise"], mmdb["asn"], mmdb["anonymous_ip"]))
    c = pipeline.Context(enricher=Enricher(databases))
    site = SiteConfig(name="s", domains=("example.com",))
    assert row(run(c, "203.0.113.9", site=site))["company_key"] == ""  # a home connection
    ranges, _ = parse_csv(["203.0.113.0/24,initech.example,Initech\n"])
    c.enricher.set_ranges(RangeTable(ranges))
    r = row(run(c, "203.0.113.9", site=site))
    assert (r["company_key"], r["company_source"]) == ("initech.example", "ranges")
    assert c.visitors.hits == 0


def test_identified_and_site_identified_visitors_run_every_step(ctx: pipeline.Context) -> None:
    c = pipeline.Context(enricher=ctx.enricher)
    site = SiteConfig(name="s", domains=("example.com",), allow_visitor_id=True)
    for _ in range(2):
        r = row(run(c, "198.51.100.7", {"type": "identify", "domain": "globex.example"}, site=site))
        assert r["company_key"] == "globex.example"
        r = row(run(c, "198.51.100.7", {"visitor": "crm-42"}, site=site))
        assert r["visitor_id"] == pipeline.persistent_visitor_id("s", "crm-42")
    assert (c.visitors.hits, c.visitors.misses) == (0, 0)
    assert row(run(c, "198.51.100.7", site=site))["company_key"] == "acme-widgets.example"


# -- AI agents browsing for a person: their own traffic class, kept, never a company ---------

MARINER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; compatible; "
    "GoogleAgent-Mariner) Chrome/142.0.7444.162 Safari/537.36"
)


def test_an_ai_agent_is_kept_with_its_own_class_and_never_a_company(
    ctx: pipeline.Context,
) -> None:
    c = pipeline.Context(enricher=ctx.enricher)
    site = SiteConfig(name="s", domains=("example.com",))  # drops hosting traffic

    def agent(address: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        doc = {"site": "s", "url": "https://example.com/pricing", **(body or {})}
        (b,) = beacon.parse(orjson.dumps(doc))
        return row(
            pipeline.run(pipeline.Event(b, site, ipaddress.ip_address(address), MARINER, NOON), c)
        )

    cloud = agent("100.64.1.1")  # a browser from here is dropped as bot:hosting
    office = agent("198.51.100.7")  # a browser from here is Acme Widgets (MaxMind)
    again = agent("198.51.100.7")  # the visit's next event, replayed from the visitor cache
    form = agent("198.51.100.7", {"type": "identify", "email": "jane@initech.example"})
    assert c.visitors.hits == 1
    for r in (cloud, office, again, form):
        assert (r["traffic_class"], r["browser"], r["device"]) == (
            "ai-agent",
            "GoogleAgent-Mariner",
            "agent",
        )
        assert (r["company_key"], r["company_domain"], r["company_source"], r["confidence"]) == (
            "",
            "",
            "",
            0.0,
        )
    assert (office["asn"], office["country"]) == (3320, "DE")  # the network is still recorded
    assert row(run(c, "198.51.100.7", site=site))["company_key"] == "acme-widgets.example"
