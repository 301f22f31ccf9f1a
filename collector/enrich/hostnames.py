"""Which company a forward-confirmed reverse-DNS name belongs to (source `rdns`), if any.

A name counts only when it looks like a company's own host: its registrable domain is not an
ISP's, carrier's or host's (data/network_domains.csv), and its host part does not look like an
access line (the address's digits in it, or words such as dsl, dyn, pool, cable, static).
`mail.acme.com` names Acme; `cpe-81-2-69-142.res.example-isp.net` names nobody.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from functools import lru_cache
from importlib import resources

from collector.enrich.model import Company
from collector.enrich.names import valid_domain
from collector.enrich.psl import registrable_domain

RDNS = "rdns"
# Between MaxMind's organisation (0.6-0.8) and the AS owner (0.3): the network's operator
# published the name and it resolves back to the address, but reverse zones are often stale.
RDNS_CONFIDENCE = 0.5

# Words that network operators put in the names of subscriber lines, whole tokens of the host
# part only ('hsd1' -> 'hsd'; the domain itself is judged by the list).
ACCESS_WORDS = frozenset({
    "dsl", "adsl", "vdsl", "xdsl", "sdsl", "dyn", "dynamic", "dynip", "dip", "pool", "cable",
    "catv", "hfc", "cm", "dhcp", "static", "customer", "customers", "cust", "res", "resi",
    "residential", "broadband", "bb", "ppp", "pppoe", "dialup", "dial", "dialin", "cpe",
    "client", "clients", "home", "user", "users", "subscriber", "subscribers", "sub", "fibre",
    "fiber", "ftth", "fttc", "fttp", "fttx", "gpon", "lte", "mobile", "wireless", "wifi",
    "wlan", "wimax", "nat", "cgnat", "ip", "ipv4", "ipv6", "hsd", "ras", "bras", "rev",
    "reverse", "arpa", "unassigned", "unused", "generic",
})  # fmt: skip

_WORDS = re.compile(r"[a-z]+")
_NUMBERS = re.compile(r"\d+")
_HEX = re.compile(r"[0-9a-f]+")


@lru_cache(maxsize=1)
def network_domains() -> dict[str, str]:
    """data/network_domains.csv: registrable domain -> class (isp, mobile, hosting), read once."""
    text = (
        resources.files("collector.enrich").joinpath("data/network_domains.csv").read_text("utf-8")
    )
    rows = csv.reader(line for line in text.splitlines() if line and not line.startswith("#"))
    return {row[0].strip().lower(): row[1].strip() for row in rows if row[0] != "domain"}


def _runs(values: list[int], wanted: tuple[int, ...]) -> bool:
    n = len(wanted)
    return any(tuple(values[i : i + n]) == wanted for i in range(len(values) - n + 1))


def _has_v4_digits(host: str, ip: ipaddress.IPv4Address) -> bool:
    _a, b, c, d = ip.packed
    numbers = [int(x) for x in _NUMBERS.findall(host)]
    if _runs(numbers, (b, c, d)) or _runs(numbers, (d, c, b)):
        return True  # 81-2-69-142, 142.69.2.81, host2-69-142
    flat = host.replace("-", "").replace(".", "")
    return f"{c:03d}{d:03d}" in flat or f"{int(ip):08x}" in flat  # 081002069142, p5102458e


def _has_v6_digits(host: str, ip: ipaddress.IPv6Address) -> bool:
    groups = [int.from_bytes(ip.packed[i : i + 2], "big") for i in range(0, 16, 2)]
    tokens = [int(t, 16) for t in _HEX.findall(host) if len(t) <= 4]
    if any(_runs(tokens, tuple(groups[i : i + 3])) for i in range(3, 6)):
        return True  # 2001-db8-1-2-3-4-5-6
    flat = host.replace("-", "").replace(".", "")
    return ip.exploded.replace(":", "")[16:] in flat  # the interface id, written out


def looks_like_access_line(
    name: str, domain: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> bool:
    """True when the host part (the name without its registrable domain) carries the address's
    digits or a word operators use for subscriber lines."""
    host = name.lower().rstrip(".")[: -len(domain)].rstrip(".")
    if not host:
        return False  # the domain's own name: a company's apex
    if any(word in ACCESS_WORDS for word in _WORDS.findall(host)):
        return True
    if isinstance(ip, ipaddress.IPv4Address):
        return _has_v4_digits(host, ip)
    return _has_v6_digits(host, ip)


def company_from_hostname(
    name: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> Company | None:
    """The company a confirmed host name names, or None (an access line, an ISP's, carrier's
    or host's domain, or no registrable domain)."""
    domain = valid_domain(registrable_domain(name))
    if not domain or network_domains().get(domain):
        return None
    if looks_like_access_line(name, domain, ip):
        return None
    return Company(domain, domain, "", RDNS, RDNS_CONFIDENCE)
