"""Builds intent/demo_data/geo.mmdb, the demo's GeoIP2-Enterprise-format database:
`python -m tests.intent.demo_geo` after changing companies.csv or ranges.csv.

It places the fictional companies' ranges in their countries on business lines, and gives the
demo's anonymous visitors residential, mobile and cloud lines, so the real enrichment step sets
countries and traffic classes (and drops the cloud visits as bot:hosting) as it would with
MaxMind's databases. Documentation ASNs (64496-64511) only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import netaddr
from mmdb_writer import MMDBWriter

from intent.demo_traffic import (
    HOSTING_NET,
    ISP_NET,
    MOBILE_NET,
    companies,
    data_file,
    rdns_companies,
)

ISP_COUNTRIES = ("DE", "US", "GB", "FR")


def _record(country: str, city: str, **traits: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "country": {"iso_code": country, "names": {"en": country}},
        "traits": traits,
    }
    if city:
        out["city"] = {"names": {"en": city}}
    return out


def build(path: Path) -> Path:
    w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Enterprise",
                   languages=["en"], description={"en": "intent demo networks (fictional)"})  # fmt: skip
    business = {"autonomous_system_number": 64496, "autonomous_system_organization": "DEMO-FIBRE",
                "isp": "Demo Business Fibre", "connection_type": "Corporate", "user_type": "business"}  # fmt: skip
    for c in companies() + rdns_companies():
        w.insert_network(
            netaddr.IPSet([str(n) for n in c.networks]), _record(c.country, c.city, **business)
        )
    for i, sub in enumerate(ISP_NET.subnets(new_prefix=24)):
        w.insert_network(netaddr.IPSet([str(sub)]), _record(
            ISP_COUNTRIES[i % len(ISP_COUNTRIES)], "", autonomous_system_number=64497,
            autonomous_system_organization="DEMO-BROADBAND", isp="Demo Broadband",
            organization="Demo Broadband", connection_type="Cable/DSL", user_type="residential"))  # fmt: skip
    w.insert_network(netaddr.IPSet([str(MOBILE_NET)]), _record(
        "US", "", autonomous_system_number=64498, autonomous_system_organization="DEMO-MOBILE",
        isp="Demo Mobile", organization="Demo Mobile", connection_type="Cellular",
        user_type="cellular"))  # fmt: skip
    w.insert_network(netaddr.IPSet([str(HOSTING_NET)]), _record(
        "US", "Ashburn", autonomous_system_number=64499, autonomous_system_organization="DEMO-CLOUD",
        isp="Demo Cloud", organization="Demo Cloud", connection_type="Corporate",
        user_type="hosting", is_hosting_provider=True))  # fmt: skip
    w.to_db_file(str(path))
    return path


if __name__ == "__main__":
    print(build(data_file("geo.mmdb")))
