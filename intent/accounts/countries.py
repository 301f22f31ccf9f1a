"""Country names or ISO codes -> ISO 3166-1 alpha-2, as CRMs export them (HubSpot writes names
such as `Germany`, Salesforce whatever was typed). Names come from `pycountry`; ALIASES holds the
everyday names it does not know."""

from __future__ import annotations

import re
from functools import lru_cache

import pycountry

ALIASES = {
    "uk": "GB", "u.k.": "GB", "great britain": "GB", "britain": "GB", "england": "GB",
    "scotland": "GB", "wales": "GB", "northern ireland": "GB", "america": "US", "u.s.": "US",
    "u.s.a.": "US", "us of a": "US", "russia": "RU", "turkey": "TR", "ivory coast": "CI",
    "holland": "NL", "macedonia": "MK", "brunei": "BN", "cape verde": "CV", "swaziland": "SZ",
    "palestine": "PS", "kosovo": "XK", "xk": "XK", "micronesia": "FM", "vatican": "VA",
    "vatican city": "VA", "republic of ireland": "IE", "uae": "AE", "burma": "MM",
    "deutschland": "DE", "österreich": "AT", "schweiz": "CH", "suisse": "CH", "españa": "ES",
    "méxico": "MX", "brasil": "BR", "italia": "IT", "nederland": "NL", "sverige": "SE",
    "norge": "NO", "danmark": "DK", "polska": "PL", "south korea": "KR", "north korea": "KP",
}  # fmt: skip
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def country_code(value: str) -> str:
    """'Germany', 'de', 'DEU', 'United States', 'UK' -> 'DE', 'DE', 'DE', 'US', 'GB'; '' -> '';
    ValueError for a name no list knows."""
    text = _SPACES.sub(" ", value.strip()).casefold()
    if not text:
        return ""
    if text.startswith("the "):
        text = text[4:]
    if text in ALIASES:
        return ALIASES[text]
    try:
        found = pycountry.countries.lookup(text)
    except LookupError:
        raise ValueError(f"unknown country {value.strip()!r} (a name or an ISO code)") from None
    return str(found.alpha_2)
