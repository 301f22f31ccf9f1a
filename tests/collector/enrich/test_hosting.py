"""Hosting and CDN networks never become companies, with only GeoLite2-ASN configured: by the
operators' published ranges (iporigin), by the shipped ASN list, whatever the AS is called."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import iporigin

from collector.enrich import Enricher
from collector.enrich.company import from_asn
from collector.enrich.geoip import open_databases
from collector.enrich.model import NetworkInfo
from collector.enrich.published import published_class
from collector.enrich.traffic import asn_classes
from collector.site_settings import SiteConfig
from tests.collector.enrich import mmdbs

SITE = SiteConfig(name="t", domains=("example.com",))
# Addresses in operators' published ranges, as the bundled table says (checked below).
AKAMAI_EDGE = "23.32.0.1"
AWS = "52.95.110.1"
# An address in no published range: only its AS can say what it is.
UNLISTED = "81.2.69.142"

# What GeoLite2-ASN says of them. Akamai's AS 35994 is named like nobody's cloud; the edge
# address comes with an AS number and name that no list knows.
AKAMAI_AS = mmdbs.Net((f"{UNLISTED}/32",), asn=35994, as_org="AKAMAI-AS")
EDGE_AS = mmdbs.Net((f"{AKAMAI_EDGE}/32", f"{AWS}/32"), asn=64999, as_org="Edge Delivery Net")


def asn_only(tmp_path: Path) -> Enricher:
    path = mmdbs._write(tmp_path / "asn.mmdb", "GeoLite2-ASN", lambda n: {
        "autonomous_system_number": n.asn, "autonomous_system_organization": n.as_org,
    }, nets=(AKAMAI_AS, EDGE_AS))  # fmt: skip
    databases, failed = open_databases((path,))
    assert not failed
    return Enricher(databases, failed)


def test_the_bundled_table_knows_the_test_addresses() -> None:
    assert iporigin.classify(AKAMAI_EDGE).provider == "Akamai"
    assert iporigin.classify(AWS).provider == "Amazon AWS"
    assert iporigin.classify(UNLISTED).kind == "unknown"
    assert published_class(ipaddress.ip_address(AKAMAI_EDGE)) == "hosting"
    assert published_class(ipaddress.ip_address(UNLISTED)) == ""
    assert published_class(ipaddress.ip_address("127.0.0.1")) == ""  # not global: not asked


def test_a_cdn_edge_under_an_unknown_as_is_hosting_and_no_company(tmp_path: Path) -> None:
    e = asn_only(tmp_path)
    for address in (AKAMAI_EDGE, AWS):
        ip = ipaddress.ip_address(address)
        net = e.network(ip)
        assert (net.asn, net.as_org) == (64999, "Edge Delivery Net")
        assert net.traffic_class == "hosting"
        assert e.company(ip, net, SITE) is None


def test_akamais_as_35994_is_hosting_and_no_company(tmp_path: Path) -> None:
    e = asn_only(tmp_path)
    ip = ipaddress.ip_address(UNLISTED)
    net = e.network(ip)
    assert (net.asn, net.as_org, net.traffic_class) == (35994, "AKAMAI-AS", "hosting")
    assert e.company(ip, net, SITE) is None
    # Named like nobody's host, the AS alone would have been a company before the list had it.
    assert from_asn(NetworkInfo(asn=64998, as_org="AKAMAI-AS")) is not None
    assert from_asn(NetworkInfo(asn=35994, as_org="AKAMAI-AS")) is None


def test_the_network_list_holds_every_akamai_as_and_says_where_it_comes_from() -> None:
    classes = asn_classes()
    for asn in (35994, 20940, 16625, 12222, 63949, 33905):
        assert classes[asn] == "hosting", asn
    header = (Path(__file__).parents[3] / "collector/enrich/data/networks.csv").read_text()
    assert "cebfbc0" in header and "cloudcheck" in header
    assert "written by hand" in header
