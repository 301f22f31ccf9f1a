"""A host name's registrable domain ('mail.eu.example.co.uk' -> 'example.co.uk'), from the public
suffix list that the `publicsuffixlist` package ships (its version names the list's date). The
list is read from the package once; it is never fetched at run time.

Only the list's ICANN section counts: its private section names hosting platforms' customer
zones (`compute-1.amazonaws.com`, `github.io`), and for us the owner of such a name is the
platform, whose registrable domain (`amazonaws.com`) is then refused as a host's. A name under a
suffix the list does not know (`.local`, `.corp`, `.internal`) has no registrable domain, and
neither has one under an internationalised suffix (`xn--p1ai`): the list's punycode forms cost
~1.7 s of start-up to build, for names that reverse zones hardly use.

CRM accounts (intent.accounts) count the private section too (`platforms=True`): a customer's
shop at `acme.myshopify.com` is that customer's account, not one account for every shop.
"""

from __future__ import annotations

from functools import lru_cache

from publicsuffixlist import PublicSuffixList


@lru_cache(maxsize=2)
def load(platforms: bool = False) -> PublicSuffixList:
    """The list, parsed once (~0.2 s): call it at start-up, not on the event loop."""
    return PublicSuffixList(
        only_icann=not platforms, accept_unknown=False, accept_encoded_idn=False
    )


# Top-level names reserved for documentation and testing (RFC 2606, RFC 6761): never delegated,
# so no real answer carries one; the demo's companies and CRM export use them, as suffixes.
RESERVED_SUFFIXES = frozenset({"example", "test"})


@lru_cache(maxsize=16384)
def registrable_domain(name: str, platforms: bool = False) -> str:
    """The registrable domain of a host name, lower-cased, or '' when it has none. With
    `platforms`, a hosting platform's customer zone (`acme.github.io`) is its own domain."""
    host = name.strip().lower().rstrip(".")
    if not host or ".." in host:
        return ""
    label, dot, rest = host.rpartition(".")
    if rest in RESERVED_SUFFIXES:
        return label.rpartition(".")[2] + "." + rest if dot and label else ""
    try:
        found = load(platforms).privatesuffix(host)
    except (ValueError, UnicodeError):
        return ""
    return found or ""
