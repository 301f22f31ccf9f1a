"""Real MaxMind-format files (mmdb-writer) read by the real readers: IP -> class -> company."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import pytest

from collector.enrich import UNKNOWN, Enricher
from collector.enrich.company import same_organisation
from collector.enrich.geoip import kind_of, open_databases
from collector.enrich.names import normalise_name
from collector.enrich.traffic import asn_classes, network_class
from collector.site_settings import SiteConfig

SITE = SiteConfig(name="t", domains=("example.com",))
Expected = tuple[
    str, str | None, str | None, float | None
]  # class, company key, source, confidence


def enricher(mmdb: dict[str, Path], *names: str) -> Enricher:
    databases, failed = open_databases(tuple(mmdb[n] for n in names))
    assert not failed
    return Enricher(databases, failed)


def identify(e: Enricher, address: str) -> Expected:
    ip = ipaddress.ip_address(address)
    net = e.network(ip)
    company = e.company(ip, net, SITE)
    if company is None:
        return (net.traffic_class, None, None, None)
    return (net.traffic_class, company.key, company.source, company.confidence)


ACME = ("business", "acme-widgets.example", "maxmind", 0.8)
CAMBRIDGE = ("education", "cam.ac.uk", "maxmind", 0.8)
NOBODY = (None, None, None)

# Enterprise (+ City, ASN, Anonymous-IP): the full picture.
FULL = {
    "198.51.100.7": ACME,  # corporate office -> company
    "2001:db8:ac::5": ACME,
    "203.0.113.9": ("isp", *NOBODY),  # cable/DSL -> isp, never a company
    "2001:db8:cab1::1": ("isp", *NOBODY),
    "192.0.2.3": ("mobile", *NOBODY),  # cellular
    "2001:db8:ce11::3": ("mobile", *NOBODY),
    "100.64.1.1": ("hosting", *NOBODY),  # cloud
    "2001:db8:c10d::1": ("hosting", *NOBODY),
    "192.88.99.1": CAMBRIDGE,  # university -> education, company allowed
    "2001:db8:ed::1": CAMBRIDGE,
    "198.18.0.5": ("government", "defense.gouv.fr", "maxmind", 0.8),
    "198.18.5.5": ("hosting", *NOBODY),  # VPN exit (Anonymous-IP)
    "198.18.9.5": ("unknown", *NOBODY),  # organisation == ISP -> no company
    "198.18.20.5": ("unknown", "initech-networks", "asn", 0.3),  # own AS, ASN database only
    "198.18.30.5": ("business", *NOBODY),  # "Comcast Business": the carrier, not a customer
    "81.2.69.142": ("unknown", *NOBODY),  # in no database, nor in published hosting ranges
}


@pytest.mark.parametrize("address", list(FULL))
def test_enterprise_city_asn_anonymous(mmdb: dict[str, Path], address: str) -> None:
    e = enricher(mmdb, "enterprise", "city", "asn", "anonymous_ip")
    assert identify(e, address) == FULL[address]


def test_geo_and_network_fields_come_through(mmdb: dict[str, Path]) -> None:
    e = enricher(mmdb, "enterprise", "city", "asn")
    net = e.network(ipaddress.ip_address("2001:db8:ac::9"))
    assert (net.country, net.city, net.region, net.asn, net.as_org, net.isp, net.organization,
            net.domain, net.connection_type, net.user_type) == (
        "DE", "Berlin", "Berlin region", 3320, "Deutsche Telekom AG", "Deutsche Telekom AG",
        "Acme Widgets GmbH", "acme-widgets.example", "Corporate", "business")  # fmt: skip
    assert e.network(None).traffic_class == "unknown"


# The paid trio without Enterprise: ISP + Connection-Type + Domain.
TRIO = {
    "198.51.100.7": ("business", "acme-widgets.example", "maxmind", 0.7),  # no user_type
    "203.0.113.9": ("isp", *NOBODY),
    "192.0.2.3": ("mobile", *NOBODY),
    "100.64.1.1": ("hosting", *NOBODY),  # "Corporate" connection, but a listed cloud ASN
    "192.88.99.1": ("business", "cam.ac.uk", "maxmind", 0.7),
    "198.18.9.5": ("unknown", *NOBODY),  # ISP-only data, organisation == ISP
}


@pytest.mark.parametrize("address", list(TRIO))
def test_isp_connection_type_domain(mmdb: dict[str, Path], address: str) -> None:
    e = enricher(mmdb, "isp", "connection_type", "domain")
    assert identify(e, address) == TRIO[address]


def test_isp_database_alone_never_calls_the_isp_a_company(mmdb: dict[str, Path]) -> None:
    e = enricher(mmdb, "isp")
    assert identify(e, "198.18.9.5") == ("unknown", *NOBODY)  # organisation == ISP
    # Acme's office line without a connection type: the ASN is a listed ISP, so no company
    assert identify(e, "198.51.100.7") == ("isp", *NOBODY)


# The free set-up: GeoLite2 City + ASN. Classes come from the shipped ASN list.
FREE = {
    "198.51.100.7": ("isp", *NOBODY),  # AS3320 is a listed ISP: we cannot tell the office apart
    "192.0.2.3": ("mobile", *NOBODY),  # AS25135 Vodafone UK: listed carrier
    "100.64.1.1": ("hosting", *NOBODY),  # AS16509 Amazon: listed cloud
    "198.18.20.5": ("unknown", "initech-networks", "asn", 0.3),
    "198.18.5.5": ("hosting", *NOBODY),  # AS9009 M247: listed VPN host
}


@pytest.mark.parametrize("address", list(FREE))
def test_geolite_city_and_asn_only(mmdb: dict[str, Path], address: str) -> None:
    e = enricher(mmdb, "city", "asn")
    assert identify(e, address) == FREE[address]


def test_no_databases_means_unknown_and_no_company() -> None:
    e = Enricher()
    assert identify(e, "198.51.100.7") == ("unknown", *NOBODY)


def test_broken_files_are_skipped_with_a_warning_naming_them(
    mmdb: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "intent.geoip")
    paths = tuple(mmdb[n] for n in ("corrupt", "garbled", "text", "missing", "city"))
    databases, failed = open_databases((*paths, mmdb["city"].parent))
    assert [d.kind for d in databases] == ["city"]
    reasons = {p.name: why for p, why in failed}
    assert reasons["missing.mmdb"] == "file not found"
    assert reasons["corrupt.mmdb"].startswith("not a valid MaxMind database")
    assert reasons["notes.mmdb"].startswith("not a valid MaxMind database")
    assert reasons["garbled.mmdb"].startswith("not a valid MaxMind database")
    assert "is a directory" in reasons[mmdb["city"].parent.name]
    for name in ("corrupt.mmdb", "garbled.mmdb", "notes.mmdb", "missing.mmdb"):
        assert any(name in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_database_types_are_recognised_by_metadata(mmdb: dict[str, Path]) -> None:
    databases, _ = open_databases(tuple(mmdb[n] for n in
                                        ("enterprise", "city", "country", "isp", "asn", "domain",
                                         "connection_type", "anonymous_ip")))  # fmt: skip
    assert {d.database_type: d.kind for d in databases} == {
        "GeoIP2-Enterprise": "enterprise", "GeoLite2-City": "city", "GeoLite2-Country": "country",
        "GeoIP2-ISP": "isp", "GeoLite2-ASN": "asn", "GeoIP2-Domain": "domain",
        "GeoIP2-Connection-Type": "connection_type", "GeoIP2-Anonymous-IP": "anonymous_ip",
    }  # fmt: skip
    assert kind_of("GeoIP2-City-Europe") == "city"
    assert kind_of("DBIP-City-Lite") == "city"
    assert kind_of("GeoIP2-Precision-Enterprise") == "enterprise"
    assert kind_of("Something-Else") is None


def test_lookups_are_cached_per_ip(mmdb: dict[str, Path]) -> None:
    e = enricher(mmdb, "enterprise")
    ip = ipaddress.ip_address("198.51.100.7")
    assert e.network(ip) is e.network(ip)


def test_an_address_no_database_knows_is_the_shared_unknown(mmdb: dict[str, Path]) -> None:
    e = enricher(mmdb, "enterprise", "city", "asn")
    assert e.network(ipaddress.ip_address("10.1.2.3")) is UNKNOWN


def test_names_and_organisation_matching() -> None:
    assert normalise_name("ACME Corp.") == normalise_name("Acme Corporation") == "acme"
    assert normalise_name("Example Widgets GmbH & Co. KG") == "example-widgets"
    assert same_organisation("COMCAST-7922", "Comcast Cable Communications, LLC")
    assert not same_organisation("Deutsche Bank AG", "Deutsche Telekom AG")
    assert not same_organisation("", "Anything")


def test_shipped_network_list_loads_once_with_all_three_classes() -> None:
    classes = asn_classes()
    assert classes is asn_classes()
    assert {classes[16509], classes[7922], classes[21928]} == {"hosting", "isp", "mobile"}
    assert network_class(0, "Hetzner Online Hosting") == "hosting"
    assert network_class(0, "Example Mobile Telecom") == "mobile"
    assert network_class(0, "Cloudflight Consulting") == ""


def test_a_database_damaged_past_the_probe_answers_nothing_instead_of_failing(
    mmdb: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    import maxminddb

    from collector.enrich.geoip import Database

    reader = maxminddb.open_database(str(mmdb["garbled"]), maxminddb.MODE_MMAP_EXT)
    meta = reader.metadata()
    db = Database(mmdb["garbled"], "enterprise", meta.database_type, None, 0, 6, reader)  # type: ignore[arg-type]
    e = Enricher([db])
    assert identify(e, "198.51.100.7") == ("unknown", *NOBODY)
    assert any("garbled.mmdb is damaged" in r.getMessage() for r in caplog.records)


def test_an_ipv4_only_database_answers_nothing_for_ipv6(tmp_path: Path) -> None:
    import netaddr
    from mmdb_writer import MMDBWriter

    w = MMDBWriter(ip_version=4, database_type="GeoLite2-Country")
    w.insert_network(netaddr.IPSet(["198.51.100.0/24"]), {"country": {"iso_code": "FR"}})
    w.to_db_file(str(tmp_path / "v4.mmdb"))
    databases, failed = open_databases((tmp_path / "v4.mmdb",))
    assert not failed and databases[0].ip_version == 4
    e = Enricher(databases)
    assert e.network(ipaddress.ip_address("198.51.100.1")).country == "FR"
    assert e.network(ipaddress.ip_address("2001:db8::1")).country == ""


def test_a_database_that_appears_or_is_replaced_is_reopened(
    mmdb: dict[str, Path], tmp_path: Path
) -> None:
    import os
    import shutil

    from collector.enrich import build_enricher
    from collector.settings import Settings

    path = tmp_path / "geo.mmdb"
    e = build_enricher(Settings(config_path=tmp_path / "x.toml", geoip_paths=(path,)))
    office = ipaddress.ip_address("198.51.100.7")
    assert e.failed == [(path, "file not found")] and e.network(office).country == ""
    assert not e.refresh_geoip()  # nothing changed

    def install(source: Path) -> None:  # as geoipupdate does: write aside, rename into place
        shutil.copy(source, tmp_path / "download.tmp")
        os.replace(tmp_path / "download.tmp", path)

    install(mmdb["city"])
    assert e.refresh_geoip()
    assert (e.network(office).country, e.network(office).traffic_class) == ("DE", "unknown")
    install(mmdb["enterprise"])
    assert e.refresh_geoip()
    assert e.network(office).traffic_class == "business" and not e.failed
