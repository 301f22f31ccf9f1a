"""Which company a network belongs to, from what MaxMind and the ASN say (sources c and d of
"Who is the company"; identify and the owner's ranges are stronger and decided before this).

An organisation counts only on a business, education or government line and only when it is
not the ISP itself: a home broadband line belongs to the ISP, never to a company.
"""

from __future__ import annotations

import re
from functools import lru_cache

from collector.enrich.model import Company, NetworkInfo
from collector.enrich.names import company_key, normalise_name, valid_domain
from collector.enrich.traffic import ORGANISATION_CLASSES, network_class

MAXMIND = "maxmind"
ASN = "asn"
ASN_CONFIDENCE = 0.3
# Confidence for a MaxMind organisation: the line type is explicit (user_type) or inferred
# (connection type), and the organisation's own domain is known or not.
MAXMIND_BASE = 0.6
EXPLICIT_USER_TYPE = 0.1
DOMAIN_KNOWN = 0.1

_NUMBER = re.compile(r"^\d+$")


def _tokens(name: str) -> list[str]:
    return [t for t in normalise_name(name).split("-") if t and not _NUMBER.match(t)]


def same_organisation(a: str, b: str) -> bool:
    """'COMCAST-7922' and 'Comcast Cable Communications' are one; 'Deutsche Bank AG' and
    'Deutsche Telekom AG' are not: one name's words must begin the other's."""
    ta, tb = _tokens(a), _tokens(b)
    if not ta or not tb:
        return False
    short, long_ = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
    return long_[: len(short)] == short


def from_maxmind(net: NetworkInfo) -> Company | None:
    org = net.organization.strip()
    if net.traffic_class not in ORGANISATION_CLASSES or not org:
        return None
    if net.isp and same_organisation(org, net.isp):
        return None
    if network_class(net.asn, net.as_org) and same_organisation(org, net.as_org):
        return None  # the carrier's own product line ("Comcast Business" on COMCAST-7922)
    domain = valid_domain(net.domain) if net.domain else ""
    confidence = MAXMIND_BASE
    if net.user_type:
        confidence += EXPLICIT_USER_TYPE
    if domain:
        confidence += DOMAIN_KNOWN
    return Company(company_key(domain, org), domain, org, MAXMIND, round(confidence, 2))


def from_asn(net: NetworkInfo) -> Company | None:
    """A company running its own AS: low confidence, and never an ISP, carrier or cloud."""
    org = net.as_org.strip()
    if not org or net.traffic_class not in ORGANISATION_CLASSES | {"unknown"}:
        return None
    if network_class(net.asn, org):  # listed or named like an ISP, carrier or host
        return None
    if net.isp and same_organisation(org, net.isp):
        return None
    if net.isp and net.organization and same_organisation(net.organization, net.isp):
        return None  # MaxMind says the line's organisation is the ISP: a customer line
    key = company_key("", org)
    return Company(key, "", org, ASN, ASN_CONFIDENCE) if key else None


@lru_cache(maxsize=65536)
def from_network(net: NetworkInfo) -> Company | None:
    return from_maxmind(net) or from_asn(net)
