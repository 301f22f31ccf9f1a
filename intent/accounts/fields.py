"""One account and its fields as a CRM gives them: parsed and checked the same way for a CSV
row (intent.accounts.csvfile) and an API object (intent.accounts.api).

An update holds only the fields its source carried: a CSV without an `Industry` column, or an
API object without `industry`, leaves the stored industry as it is; an empty value clears it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from collector.enrich.domains import registrable_domain
from collector.enrich.names import normalise_name, valid_domain
from intent.accounts.countries import country_code

FIELDS = (
    "domain",
    "name",
    "industry",
    "employees",
    "revenue",
    "country",
    "owner",
    "stage",
    "crm_id",
)
TEXT_LIMITS = {"name": 300, "industry": 200, "owner": 200, "stage": 100, "crm_id": 100}
MAX_EMPLOYEES = 10_000_000
MAX_REVENUE = 1e15

# Stage classes from HubSpot's lifecycle stages and Salesforce's account types (docs/accounts.md).
CUSTOMER = "customer"
OPPORTUNITY = "opportunity"
LEAD = "lead"
PARTNER = "partner"
OTHER = "other"
_LEAD_STAGES = frozenset({
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "mql", "sql", "prospect",
})  # fmt: skip

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_SEPARATORS = re.compile(r"[,\s_'\u00a0\u202f]")
_WHOLE = re.compile(r"^(\d{1,12})(?:\.0*)?\+?$")
_MONEY = re.compile(r"^(\d+(?:\.\d+)?)([kmb]?)$")
_CURRENCY = re.compile(r"^(?:[$€£¥]|[a-z]{3}\b)\s*|\s*(?:[$€£¥]|\b[a-z]{3})$")
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}
_ALNUM = re.compile(r"[^a-z0-9]+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_INITIALISM = re.compile(r"\b(?:[^\W\d_]\.){2,}", re.UNICODE)
# Legal forms beyond collector.enrich.names' list (which stays as it is: it makes stored company
# keys). Dropped from the end of a name after that list's.
_MORE_LEGAL = frozenset({
    "ltda", "sro", "sp", "z", "oo", "pvt", "private", "ug", "ohg", "bhd", "sdn", "kft", "zrt",
    "doo", "ooo", "oyj", "sae", "sca", "scs", "cv", "sapi", "de", "gk", "mbh", "ek",
})  # fmt: skip


class FieldError(ValueError):
    """A value that cannot be stored: `field` is one of FIELDS."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Account:
    """An account as stored: one per (site, registrable domain)."""

    domain: str
    name: str = ""
    industry: str = ""
    employees: int | None = None
    revenue: float | None = None
    country: str = ""  # ISO 3166-1 alpha-2
    owner: str = ""  # a name (mapped in [sites.S.owners]) or an email address
    stage: str = ""  # as the CRM wrote it; stage_class() says what it means
    crm_id: str = ""

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """What one CSV row or API object says about the account of `domain`."""

    domain: str
    values: dict[str, Any] = field(default_factory=dict)  # only the fields it carried

    def applied_to(self, current: Account | None) -> Account:
        return replace(current or Account(self.domain), **self.values)


def parse_update(raw: Mapping[str, Any]) -> AccountUpdate:
    """Check every field of one row or object; FieldError names the first bad one."""
    if raw.get("domain") in (None, ""):
        raise FieldError("domain", "no domain or website")
    domain = parse_domain(raw["domain"])
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "domain":
            continue
        if name == "employees":
            values[name] = parse_employees(value)
        elif name == "revenue":
            values[name] = parse_revenue(value)
        elif name == "country":
            values[name] = parse_country(value)
        elif name == "owner":
            owner = parse_text(name, value)
            values[name] = owner.lower() if _EMAIL.match(owner) else owner
        elif name in TEXT_LIMITS:
            values[name] = parse_text(name, value)
        else:
            raise FieldError(name, f"unknown field (known: {', '.join(FIELDS)})")
    return AccountUpdate(domain, values)


def parse_domain(value: Any) -> str:
    """A domain, a host or a web address -> its registrable domain (`acme.co.uk`)."""
    if not isinstance(value, str):
        raise FieldError("domain", "expected a domain or a web address")
    text = value.strip()
    original = text
    if "@" in text:
        raise FieldError("domain", f"an email address, not a domain: {original!r}")
    if re.search(r"[\s<>\"\\]", text):
        raise FieldError("domain", f"not a web address: {original!r}")
    if "/" in text or ":" in text:
        if not re.match(r"^[a-z][a-z0-9+.-]*://", text, re.I):
            text = "http://" + text.lstrip("/")
        try:
            parts = urlsplit(text)
            host = parts.hostname or ""
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise FieldError("domain", f"not a web address: {original!r}") from None
        if parts.scheme.lower() not in ("http", "https"):
            raise FieldError("domain", f"not a web address: {original!r}")
    else:
        host = text
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise FieldError("domain", f"not a domain name: {original!r}") from None
    if not valid_domain(ascii_host):
        raise FieldError("domain", f"not a web address: {original!r}")
    domain = registrable_domain(ascii_host)
    if not domain:
        raise FieldError("domain", f"{original!r} is a public suffix, not a company's domain")
    return domain


def parse_text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FieldError(name, "expected text")
    text = _CONTROL.sub(" ", value).strip()
    if len(text) > TEXT_LIMITS[name]:
        raise FieldError(name, f"longer than {TEXT_LIMITS[name]} characters")
    return text


def parse_employees(value: Any) -> int | None:
    """250, '1,200', '1 200', '250.0', '10000+' -> a whole number; '' or None -> unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError("employees", "expected a whole number")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        match = _WHOLE.match(_SEPARATORS.sub("", value))
        if not match:
            raise FieldError("employees", f"{value.strip()!r} is not a number of employees")
        number = int(match.group(1))
    else:
        raise FieldError("employees", "expected a whole number")
    if not 0 <= number <= MAX_EMPLOYEES:
        raise FieldError("employees", f"must be from 0 to {MAX_EMPLOYEES:,}, got {number:,}")
    return number


def parse_revenue(value: Any) -> float | None:
    """5000000, '$5,000,000', 'USD 5000000.00', '5M', '1.2B' -> a number; '' -> unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError("revenue", "expected a number")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = _CURRENCY.sub("", value.strip().lower())
        match = _MONEY.match(_SEPARATORS.sub("", text))
        if not match:
            raise FieldError("revenue", f"{value.strip()!r} is not an amount")
        number = float(match.group(1)) * _SCALE[match.group(2)]
    else:
        raise FieldError("revenue", "expected a number")
    if not math.isfinite(number) or not 0 <= number <= MAX_REVENUE:
        raise FieldError("revenue", f"must be from 0 to {MAX_REVENUE:g}")
    return number


def parse_country(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FieldError("country", "expected a country name or ISO code")
    try:
        return country_code(value)
    except ValueError as exc:
        raise FieldError("country", str(exc)) from None


def stage_class(stage: str) -> str:
    """What a CRM stage means here: customer, opportunity, lead, partner, other, or ''.
    HubSpot lifecycle stages (`Customer`, `Evangelist`, `Opportunity`, `Sales Qualified Lead`,
    or their internal names) and Salesforce account types (`Customer - Direct`, `Prospect`,
    `Channel Partner / Reseller`) both read."""
    key = _ALNUM.sub("", stage.casefold())
    if not key:
        return ""
    if key.startswith(CUSTOMER) or key == "evangelist":
        return CUSTOMER
    if OPPORTUNITY in key:
        return OPPORTUNITY
    if key in _LEAD_STAGES:
        return LEAD
    if PARTNER in key or "reseller" in key:
        return PARTNER
    return OTHER


def name_key(name: str) -> str:
    """A company name for matching: 'ACME Corp.', 'Acme, Inc.' and 'Acme S.A.' -> 'acme'."""
    collapsed = _INITIALISM.sub(lambda m: m.group(0).replace(".", "") + " ", name)
    parts = normalise_name(collapsed).split("-")
    while len(parts) > 1:  # each list may uncover a form of the other ("S.A. de C.V.")
        if parts[-1] in _MORE_LEGAL:
            parts.pop()
        elif parts[0] == "the":
            parts.pop(0)
        else:
            shorter = normalise_name(" ".join(parts)).split("-")
            if shorter == parts:
                break
            parts = shorter
    return "-".join(parts)
