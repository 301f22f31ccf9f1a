"""Small MaxMind-format databases written with mmdb-writer, read back by the real geoip2.

One table of networks (IPv4 and IPv6) describes a fictional internet; each builder writes the
fields a real database of that type carries for those networks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import netaddr
from mmdb_writer import MMDBWriter


@dataclass(frozen=True)
class Net:
    cidrs: tuple[str, ...]
    country: str = "DE"
    city: str = ""
    asn: int = 0
    as_org: str = ""
    isp: str = ""
    organization: str = ""
    domain: str = ""
    user_type: str = ""
    connection_type: str = ""
    anonymous: tuple[str, ...] = ()  # is_anonymous_vpn, is_hosting_provider, is_tor_exit_node...


CORPORATE = Net(("198.51.100.0/24", "2001:db8:ac::/48"), "DE", "Berlin", 3320,
                "Deutsche Telekom AG", "Deutsche Telekom AG", "Acme Widgets GmbH",
                "acme-widgets.example", "business", "Corporate")  # fmt: skip
CABLE = Net(("203.0.113.0/24", "2001:db8:cab1::/48"), "DE", "Hamburg", 3320,
            "Deutsche Telekom AG", "Deutsche Telekom AG", "Deutsche Telekom AG",
            "t-ipconnect.de", "residential", "Cable/DSL")  # fmt: skip
CELLULAR = Net(("192.0.2.0/24", "2001:db8:ce11::/48"), "GB", "London", 25135,
               "Vodafone Limited", "Vodafone UK", "Vodafone UK", "", "cellular", "Cellular")  # fmt: skip
CLOUD = Net(("100.64.0.0/16", "2001:db8:c10d::/48"), "US", "Ashburn", 16509,
            "AMAZON-02", "Amazon.com", "Amazon Data Services", "amazonaws.com", "hosting",
            "Corporate", ("is_anonymous", "is_hosting_provider"))  # fmt: skip
UNIVERSITY = Net(("192.88.99.0/24", "2001:db8:ed::/48"), "GB", "Cambridge", 786,
                 "Jisc Services Limited", "Jisc Services Limited", "University of Cambridge",
                 "cam.ac.uk", "college", "Corporate")  # fmt: skip
GOVERNMENT = Net(("198.18.0.0/24",), "FR", "Paris", 2200, "Renater", "Renater",
                 "Ministere des Armees", "defense.gouv.fr", "government", "Corporate")  # fmt: skip
VPN = Net(("198.18.5.0/24",), "NL", "Amsterdam", 9009, "M247 Europe SRL", "M247", "M247",
          "", "", "", ("is_anonymous", "is_anonymous_vpn"))  # fmt: skip
# A business on a business line whose organisation field is only the ISP again.
ISP_ONLY = Net(("198.18.9.0/24",), "US", "Denver", 64600, "RIVERNET-64600",
               "Rivernet Communications", "Rivernet Communications", "", "", "")  # fmt: skip
# In nothing but the ASN database: a company running its own AS.
OWN_AS = Net(("198.18.20.0/24",), "US", "", 64512, "Initech Networks Inc.")

# A business line whose organisation is only the carrier's product name.
CARRIER_BUSINESS = Net(("198.18.30.0/24",), "US", "Denver", 7922, "COMCAST-7922",
                       "Comcast Cable Communications", "Comcast Business", "comcast.net",
                       "business", "Corporate")  # fmt: skip

NETWORKS = (CORPORATE, CABLE, CELLULAR, CLOUD, UNIVERSITY, GOVERNMENT, VPN, ISP_ONLY, OWN_AS,
            CARRIER_BUSINESS)  # fmt: skip


def _writer(database_type: str) -> MMDBWriter:
    return MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type,
                      languages=["en"], description={"en": f"test {database_type}"})  # fmt: skip


def _write(path: Path, database_type: str, record: Any, nets: tuple[Net, ...] = NETWORKS) -> Path:
    w = _writer(database_type)
    for net in nets:
        data = record(net)
        if data:
            w.insert_network(netaddr.IPSet(list(net.cidrs)), data)
    w.to_db_file(str(path))
    return path


def _geo(net: Net) -> dict[str, Any]:
    geo: dict[str, Any] = {"country": {"iso_code": net.country, "names": {"en": net.country}}}
    if net.city:
        geo["city"] = {"names": {"en": net.city}}
        geo["subdivisions"] = [{"iso_code": "XX", "names": {"en": net.city + " region"}}]
    return geo


def _nonempty(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v}


def city(path: Path, nets: tuple[Net, ...] = NETWORKS) -> Path:
    return _write(path, "GeoLite2-City", _geo, nets)


def country(path: Path) -> Path:
    return _write(path, "GeoLite2-Country", lambda n: {"country": _geo(n)["country"]})


def asn(path: Path) -> Path:
    return _write(path, "GeoLite2-ASN", lambda n: _nonempty(
        autonomous_system_number=n.asn, autonomous_system_organization=n.as_org))  # fmt: skip


def enterprise(path: Path) -> Path:
    def record(n: Net) -> dict[str, Any]:
        traits = _nonempty(autonomous_system_number=n.asn, autonomous_system_organization=n.as_org,
                           isp=n.isp, organization=n.organization, domain=n.domain,
                           user_type=n.user_type, connection_type=n.connection_type)  # fmt: skip
        return {**_geo(n), "traits": traits}

    return _write(path, "GeoIP2-Enterprise", record)


def isp(path: Path) -> Path:
    return _write(path, "GeoIP2-ISP", lambda n: _nonempty(
        autonomous_system_number=n.asn, autonomous_system_organization=n.as_org,
        isp=n.isp, organization=n.organization))  # fmt: skip


def domain(path: Path) -> Path:
    return _write(path, "GeoIP2-Domain", lambda n: _nonempty(domain=n.domain))


def connection_type(path: Path) -> Path:
    return _write(
        path, "GeoIP2-Connection-Type", lambda n: _nonempty(connection_type=n.connection_type)
    )


def anonymous_ip(path: Path) -> Path:
    return _write(path, "GeoIP2-Anonymous-IP", lambda n: dict.fromkeys(n.anonymous, True))


def corrupt(path: Path, source: Path) -> Path:
    """A download cut short: the first half of a real database."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def garbled(path: Path, source: Path) -> Path:
    """Metadata intact, search tree overwritten: opens, but every lookup fails."""
    data = bytearray(source.read_bytes())
    end = data.rfind(b"\xab\xcd\xefMaxMind.com") - 16
    data[:end] = b"\xff" * end
    path.write_bytes(bytes(data))
    return path


ALL = {"city": city, "country": country, "asn": asn, "enterprise": enterprise, "isp": isp,
       "domain": domain, "connection_type": connection_type, "anonymous_ip": anonymous_ip}  # fmt: skip
