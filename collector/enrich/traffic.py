"""Traffic class of a visit: business, education, government, isp, mobile, hosting or unknown.

Strongest evidence first: anonymiser flags (VPN, proxy, Tor, hosting provider), MaxMind's
`user_type` (Enterprise), the operators' published ranges (collector.enrich.published), a hosting
network by ASN, the connection type (Enterprise /
Connection-Type), then the shipped list of ISP and mobile networks by ASN (data/networks.csv),
then keywords in the AS organisation's name. Nothing known -> unknown.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from importlib import resources

from collector.enrich.model import NetworkInfo

ORGANISATION_CLASSES = frozenset({"business", "education", "government"})

# MaxMind GeoIP2 Enterprise `user_type` values.
USER_TYPES = {
    "business": "business",
    "college": "education",
    "school": "education",
    "government": "government",
    "military": "government",
    "residential": "isp",
    "dialup": "isp",
    "cafe": "isp",  # public Wi-Fi: whoever sits there, not the café's company
    "library": "isp",
    "traveler": "isp",
    "router": "isp",
    "cellular": "mobile",
    "hosting": "hosting",
    "content_delivery_network": "hosting",
    "consumer_privacy_network": "hosting",
    "search_engine_spider": "hosting",
}
CONNECTION_TYPES = {
    "corporate": "business",
    "cable/dsl": "isp",
    "dialup": "isp",
    "satellite": "isp",
    "cellular": "mobile",
}
# For AS organisations not in the list: whole words only, so "Telecom Argentina" is an ISP but
# "Cloudflight" is nobody's cloud.
_HOSTING = r"hosting|host|cloud|datacenter|data center|data centre|colo|colocation|vps|servers?|cdn"
_MOBILE = r"mobile|mobil|wireless|cellular|lte|5g"
_ISP = (r"telecom|telekom|telecommunications?|broadband|cable|dsl|fibre|fiber|internet service|"
        r"isp|telephone|telefonica|kabel")  # fmt: skip
_KEYWORDS = tuple(
    (cls, re.compile(rf"\b({words})\b", re.IGNORECASE))
    for cls, words in (("hosting", _HOSTING), ("mobile", _MOBILE), ("isp", _ISP))
)


@lru_cache(maxsize=1)
def asn_classes() -> dict[int, str]:
    """data/networks.csv: asn -> class, read once."""
    text = resources.files("collector.enrich").joinpath("data/networks.csv").read_text("utf-8")
    rows = csv.reader(line for line in text.splitlines() if line and not line.startswith("#"))
    out: dict[int, str] = {}
    for row in rows:
        if row[0] == "asn":
            continue
        out[int(row[0])] = row[1]
    return out


@lru_cache(maxsize=16384)
def _keyword_class(as_org: str) -> str:
    for cls, pattern in _KEYWORDS:
        if pattern.search(as_org.replace("-", " ").replace("_", " ")):
            return cls
    return ""


def network_class(asn: int, as_org: str) -> str:
    """What the network itself is, by ASN list then AS-name keywords ('' when unknown)."""
    listed = asn_classes().get(asn) if asn else None
    if listed:
        return listed
    return _keyword_class(as_org) if as_org else ""


def classify(found: NetworkInfo, published: str = "") -> str:
    """`published`: the class from operators' published ranges (collector.enrich.published)."""
    if found.anonymous:
        return "hosting"
    by_user = USER_TYPES.get(found.user_type.lower()) if found.user_type else None
    if by_user:
        return by_user
    if published:
        return published
    by_network = network_class(found.asn, found.as_org)
    if by_network == "hosting":  # cloud ranges are often labelled "Corporate" connections
        return by_network
    by_connection = (
        CONNECTION_TYPES.get(found.connection_type.lower()) if found.connection_type else None
    )
    return by_connection or by_network or "unknown"
