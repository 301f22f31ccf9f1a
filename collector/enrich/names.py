"""Company keys: the domain where known, else a normalised organisation name."""

from __future__ import annotations

import re
from functools import lru_cache

_DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

# Legal forms dropped from the end of a name, so "Acme Corp." and "ACME Corporation" meet.
_LEGAL = frozenset({
    "inc", "incorporated", "corp", "corporation", "co", "company", "llc", "llp", "lp", "ltd",
    "limited", "plc", "gmbh", "mbh", "ag", "kg", "se", "sa", "sas", "sarl", "srl", "spa", "bv",
    "nv", "oy", "ab", "as", "asa", "aps", "pty", "pte", "sl", "kk",
})  # fmt: skip
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def valid_domain(value: str) -> str:
    """The domain lower-cased without a trailing dot, or '' when it is not a domain name."""
    domain = value.strip().lower().rstrip(".")
    if domain.startswith("www."):
        domain = domain[4:]
    return domain if _DOMAIN.match(domain) else ""


@lru_cache(maxsize=65536)
def normalise_name(name: str) -> str:
    """'ACME Corp.' -> 'acme'; 'Example Widgets GmbH & Co. KG' -> 'example-widgets'."""
    words = [w for w in _NON_WORD.sub(" ", name.casefold()).replace("_", " ").split() if w]
    while len(words) > 1 and words[-1] in _LEGAL:
        words.pop()
    return "-".join(words)


def company_key(domain: str, name: str) -> str:
    return domain or normalise_name(name)
