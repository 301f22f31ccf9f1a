"""Reverse DNS as a company source, through the real server and a real DNS server on loopback
(dnslib, tests/collector/enrich/dnsserver.py): forward-confirmed business names name companies,
access lines, unconfirmed names and ISP or hosting domains do not; lookups never hold a 202; a
later answer reaches scoring and coverage; neither the address nor the host name is stored."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest

from collector.enrich.coverage import coverage
from collector.enrich.hostnames import company_from_hostname
from collector.enrich.rdns import Limits, ReverseDNS
from collector.settings import load_settings
from collector.settings_error import SettingsError
from collector.store import Store
from intent.privacy import forget_visitor
from intent.rules import parse_rules
from intent.scoring import compute_scores
from tests.collector.enrich.dnsserver import Zone, dns_server
from tests.collector.test_privacy import tables_containing
from tests.conftest import LiveServer, SettingsFactory, wait_until

EVENTS = """
SELECT path, company_key, company_source, confidence, visitor_id FROM events
WHERE site = {site:String} ORDER BY ts
"""
ATTRIBUTIONS = """
SELECT visitor_id, from_key, company_key, company_source, confidence FROM attributions FINAL
WHERE site = {site:String} ORDER BY visitor_id
"""


def agent(n: int) -> str:
    """A browser's user agent; a different n is a different visitor from the same address."""
    return (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{100 + n}.0.0.0 Safari/537.36"
    )


def page(site: str, path: str) -> dict[str, str]:
    return {"site": site, "type": "pageview", "url": f"https://example.com{path}"}


def visit(live: LiveServer, site: str, path: str, address: str, n: int = 1) -> None:
    answer = live.post(page(site, path), ua=agent(n), **{"X-Forwarded-For": address})
    assert answer.status_code == 202, answer.text


def rdns_of(live: LiveServer) -> ReverseDNS:
    assert live.collector.rdns is not None
    return live.collector.rdns


def flush_attributions(live: LiveServer) -> None:
    """Write what the resolver found so far now, on the server's loop."""
    assert live.collector.loop is not None
    asyncio.run_coroutine_threadsafe(rdns_of(live).flush(), live.collector.loop).result(30)


def settled(live: LiveServer, lookups: int) -> bool:
    r = rdns_of(live)
    return r.counts["lookups"] >= lookups and not r._waiting


@pytest.fixture
def zone() -> Iterator[tuple[Zone, str]]:
    z = Zone()
    with dns_server(z) as servers:
        yield z, servers


@pytest.fixture
def rdns_server(
    site: str, make_settings: SettingsFactory, serve: Callable[..., LiveServer],
    zone: tuple[Zone, str],
) -> LiveServer:  # fmt: skip
    settings = make_settings(site, INTENT_RDNS="true", INTENT_DNS_SERVERS=zone[1],
                             INTENT_TRUSTED_PROXIES="127.0.0.0/8")  # fmt: skip
    return serve(settings)


class Held(NamedTuple):
    """A server whose resolver holds one address's answer until the test opens `gate`."""

    live: LiveServer
    dns: Zone
    gate: threading.Event


def hold_answer(live: LiveServer, zone: tuple[Zone, str], address: str, name: str,
                seconds: float = 0.0) -> Held:  # fmt: skip
    """`address`'s PTR is `name`, answered once the gate opens and no sooner than `seconds` after
    it was asked. The server waits a minute for an answer instead of INTENT_RDNS's 5 s, so a
    slow machine running the test's visits and queries before the gate opens cannot time the
    lookup out."""
    dns, _ = zone
    dns.add(address, name)
    rdns = rdns_of(live)
    rdns.limits = replace(rdns.limits, timeout_s=60.0)  # read per lookup
    rdns.resolver.lifetime = rdns.resolver.timeout = 60.0
    return Held(live, dns, dns.hold(address, seconds))


# --- what a name says (pure) ---------------------------------------------------------------

V4 = ipaddress.ip_address("81.2.69.142")
V6 = ipaddress.ip_address("2a02:8010:1::42")


@pytest.mark.parametrize(("name", "ip", "company"), [
    ("www.acme-widgets.com", V4, "acme-widgets.com"),
    ("mail.eu.acme-widgets.co.uk", V4, "acme-widgets.co.uk"),
    ("acme-widgets.com", V6, "acme-widgets.com"),
    ("gw1.fra.initech.de", V6, "initech.de"),
    ("cpe-81-2-69-142.example-isp.net", V4, None),  # the address's digits
    ("142.69.2.81.example-isp.net", V4, None),  # reversed
    ("host081002069142.example-isp.net", V4, None),  # zero-padded
    ("p5102458e.example-isp.net", V4, None),  # in hex
    ("2a02-8010-1-0-0-0-0-42.example-isp.net", V6, None),
    ("dyn.pool7.example-isp.net", V4, None),  # access words
    ("adsl-gw.example-isp.net", V4, None),
    ("static.customer.example-isp.net", V4, None),
    ("c-73.hsd1.ca.example-isp.net", V4, None),
    ("res.example-isp.net", V4, None),
    ("broadband.example-isp.net", V4, None),
    ("ppp.example-isp.net", V4, None),
    ("gw.office.comcast.net", V4, None),  # an ISP's domain
    ("web1.eu-west.amazonaws.com", V4, None),  # a host's domain
    ("www.ec2.compute-1.amazonaws.com", V4, None),  # a platform's customer zone: the platform
    ("router.corp", V4, None),  # no registrable domain
    ("localhost", V4, None),
])  # fmt: skip
def test_which_names_name_a_company(name: str, ip: Any, company: str | None) -> None:
    found = company_from_hostname(name, ip)
    if company is None:
        assert found is None
    else:
        assert found is not None
        assert (found.key, found.domain, found.source, found.confidence) == (
            company,
            company,
            "rdns",
            0.5,
        )


def test_dns_settings_parse_and_default_to_on(tmp_path: Any) -> None:
    config = tmp_path / "intent.toml"
    config.write_text('[sites.shop]\ndomains = ["shop.example"]\n', encoding="utf-8")
    base = {"INTENT_CONFIG": str(config)}
    s = load_settings(base)
    assert (s.rdns, s.dns_servers) == (True, ())
    s = load_settings({**base, "INTENT_RDNS": "false",
                       "INTENT_DNS_SERVERS": "192.0.2.53, 127.0.0.1:5353,[::1]:53, ::1"})  # fmt: skip
    assert s.rdns is False
    assert s.dns_servers == (("192.0.2.53", 53), ("127.0.0.1", 5353), ("::1", 53), ("::1", 53))
    with pytest.raises(SettingsError, match=r"^INTENT_DNS_SERVERS: .*an IP address"):
        load_settings({**base, "INTENT_DNS_SERVERS": "resolver.internal"})


# --- through the real server and a DNS server on loopback ----------------------------------


@pytest.mark.parametrize(("address", "name"), [
    ("81.2.69.142", "www.acme-widgets.com"),
    ("2a02:8010:1::42", "gw.acme-widgets.com"),
])  # fmt: skip
def test_a_confirmed_business_name_names_the_company(
    rdns_server: LiveServer, zone: tuple[Zone, str], store: Store, site: str,
    address: str, name: str, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG, logger="intent")
    dns, _ = zone
    dns.add(address, name)
    live = rdns_server
    visit(live, site, "/pricing", address, 1)  # stored at once; its company comes later
    assert wait_until(lambda: bool(store.query(ATTRIBUTIONS, {"site": site})))
    visit(live, site, "/demo", address, 2)  # a new visitor: the answer is cached
    live.flush()
    (p1, k1, s1, c1, first), (p2, k2, s2, c2, _) = store.query(EVENTS, {"site": site})
    assert (p1, k1, s1, c1) == ("/pricing", "", "", 0.0)
    assert (p2, k2, s2, round(c2, 2)) == ("/demo", "acme-widgets.com", "rdns", 0.5)
    [(visitor, from_key, key, source, confidence)] = store.query(ATTRIBUTIONS, {"site": site})
    assert (visitor, from_key, key, source, round(confidence, 2)) == (
        first,
        "",
        "acme-widgets.com",
        "rdns",
        0.5,
    )
    record = "AAAA" if ":" in address else "A"
    assert dns.asked("PTR", address) and dns.asked(record, name)
    assert rdns_of(live).counts["lookups"] == 1  # one lookup per address, then the cache

    by_source = coverage(store, site, 1).by_source
    assert by_source == {"rdns": 1, "rdns (later answer)": 1}

    # Neither the address nor the host name is in any table, nor in the log.
    ip = ipaddress.ip_address(address)
    needles = [str(ip), ip.exploded, name]
    assert tables_containing(store, needles) == []
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert not any(n in logged for n in needles)

    # A visitor forgotten takes the attribution along.
    forget_visitor(store, site, first)
    assert store.query(ATTRIBUTIONS, {"site": site}) == []


NOBODY = {
    "81.2.69.150": ("cpe-81-2-69-150.example-isp.net", None),  # the address's digits
    "81.2.69.151": ("dyn.pool7.example-isp.net", None),  # an access line's words
    "81.2.69.152": ("mail.unconfirmed-corp.com", ["81.2.69.99"]),  # resolves elsewhere
    "81.2.69.153": ("gw.office.comcast.net", None),  # an ISP's domain
    "81.2.69.154": ("web1.eu-west.amazonaws.com", None),  # a host's domain
}
CONTROL = ("81.2.69.155", "www.initech-labs.com")


def test_access_lines_unconfirmed_names_and_isp_or_host_domains_name_nobody(
    rdns_server: LiveServer, zone: tuple[Zone, str], store: Store, site: str
) -> None:
    dns, _ = zone
    for address, (name, forward) in NOBODY.items():
        dns.add(address, name, forward)
    dns.add(*CONTROL)
    live = rdns_server
    for address in [*NOBODY, CONTROL[0]]:
        visit(live, site, "/pricing", address, 1)
    assert wait_until(lambda: settled(live, len(NOBODY) + 1))
    flush_attributions(live)
    assert dns.asked("A", "mail.unconfirmed-corp.com")  # it was checked, and did not hold
    rows = store.query(ATTRIBUTIONS, {"site": site})
    assert [(key, source) for _, _, key, source, _ in rows] == [("initech-labs.com", "rdns")]
    for address in [*NOBODY, CONTROL[0]]:  # later visitors: answered from the cache
        visit(live, site, "/demo", address, 2)
    live.flush()
    later = [row[1] for row in store.query(EVENTS, {"site": site}) if row[0] == "/demo"]
    assert sorted(later) == ["", "", "", "", "", "initech-labs.com"]
    assert rdns_of(live).counts["lookups"] == len(NOBODY) + 1


def test_a_resolver_that_answers_after_3_s_holds_no_202(
    rdns_server: LiveServer, zone: tuple[Zone, str], store: Store, site: str
) -> None:
    assert Limits().timeout_s > 3  # the default timeout hears a resolver this slow
    slow = "81.2.69.160"
    live, dns, gate = hold_answer(rdns_server, zone, slow, "www.globex-corp.com", 3)
    visit(live, site, "/pricing", slow, 1)
    assert wait_until(lambda: dns.asked("PTR", slow))  # the lookup is in flight
    for n in range(2, 7):  # more visitors from the address while the resolver keeps quiet
        visit(live, site, "/pricing", slow, n)
        assert not dns.answered("PTR", slow)  # every 202 came before the resolver's answer
    visit(live, site, "/pricing", "81.2.69.161", 1)  # another address: queued, not waiting
    assert not dns.answered("PTR", slow)
    gate.set()
    assert wait_until(lambda: len(store.query(ATTRIBUTIONS, {"site": site})) == 6)
    assert dns.answered("PTR", slow)


def test_a_later_answer_shows_in_the_companys_score(
    rdns_server: LiveServer, zone: tuple[Zone, str], store: Store, site: str
) -> None:
    late = "81.2.69.170"
    live, dns, gate = hold_answer(rdns_server, zone, late, "www.hooli-systems.com")
    for path in ("/pricing", "/pricing/enterprise", "/demo"):
        visit(live, site, path, late, 1)
    visit(live, site, "/pricing", late, 2)
    assert wait_until(lambda: dns.asked("PTR", late))
    live.flush()
    rules, today = parse_rules({}), datetime.now(UTC).date()
    before = {c.company_key for c in compute_scores(store, site, rules, today)}
    assert "hooli-systems.com" not in before  # stored without a company
    gate.set()
    assert wait_until(lambda: len(store.query(ATTRIBUTIONS, {"site": site})) == 2)
    after = {c.company_key: c for c in compute_scores(store, site, rules, today)}
    hooli = after["hooli-systems.com"]
    assert hooli.score > 0 and hooli.visitors == 2
    assert (hooli.company_source, round(hooli.confidence, 2)) == ("rdns", 0.5)
    assert hooli.company_domain == "hooli-systems.com"
    assert any("pricing" in reason for reason in hooli.reasons)


def test_a_later_answer_replaces_the_as_owner(store: Store, site: str) -> None:
    """A visit stored with the AS owner (0.3) counts for the confirmed name's company once the
    answer arrives: scoring reads the attribution, not the weaker key."""
    day = datetime.now(UTC).date()
    ts = f"{day} 10:00:00.000"
    store.insert_rows("daily_activity", [{
        "site": site, "day": str(day), "company_key": "initech-networks", "visitor_id": "v1",
        "kind": "page", "key": "/pricing", "hits": 2, "engaged_ms": 0, "max_scroll": 0,
        "first_ts": ts, "last_ts": ts,
    }])  # fmt: skip
    rules = parse_rules({})
    assert {c.company_key for c in compute_scores(store, site, rules, day)} == {"initech-networks"}
    store.insert_rows("attributions", [{
        "site": site, "day": str(day), "visitor_id": "v1", "from_key": "initech-networks",
        "company_key": "initech.com", "company_domain": "initech.com", "company_name": "",
        "company_source": "rdns", "confidence": 0.5, "ts": ts,
    }])  # fmt: skip
    assert {c.company_key for c in compute_scores(store, site, rules, day)} == {"initech.com"}
