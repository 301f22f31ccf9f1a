"""Registrable domains ("eTLD+1"), public-suffix aware: `www.acme.co.uk` -> `acme.co.uk`.

The Public Suffix List snapshot bundled with the `publicsuffixlist` package is read once, offline
(nothing is fetched). Its private section counts too, so `acme.github.io` stays its own domain.
"""

from __future__ import annotations

import re
from functools import lru_cache

from publicsuffixlist import PublicSuffixList


@lru_cache(maxsize=1)
def _list() -> PublicSuffixList:
    return PublicSuffixList()


@lru_cache(maxsize=131072)
def registrable_domain(host: str) -> str:
    """The registrable domain of a host name, lower-cased and in ASCII (IDNA), or '' when the
    host has none (a bare public suffix such as `co.uk`, `localhost`, an IP address)."""
    name = host.strip().rstrip(".").lower()
    if not name or ".." in name or _is_ip(name):
        return ""
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return ""
    found = _list().privatesuffix(name)
    return found or ""


_IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def _is_ip(name: str) -> bool:
    """An IPv4 or IPv6 literal (no top-level domain is all digits, none holds a colon)."""
    return ":" in name or bool(_IPV4.match(name))
