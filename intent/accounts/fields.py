"""One account and its fields as a CRM gives them: parsed and checked the same way for a CSV
row (intent.accounts.csvfile) and an API object (intent.accounts.api).

An update holds only the fields its source carried: a CSV without an `Industry` column, or an
API object without `industry`, leaves the stored industry as it is; an empty value clears it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from typing import Any

from collector.enrich.names import normalise_name, valid_domain
from collector.enrich.psl import find_registrable_domain
from intent.accounts.countries import country_code
from intent.accounts.owners import EMAIL

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
_PLAIN_NUMBER = re.compile(r"^\d{1,16}(?:\.\d{1,6})?$")
_MONEY = re.compile(r"^(\d+(?:\.\d+)?)([kmb]?)$")
_CURRENCY = re.compile(r"^(?:[$€£¥]|[a-z]{3}\b)\s*|\s*(?:[$€£¥]|\b[a-z]{3})$")
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
# [scheme://]host[:port][/path?query#fragment], with no space, <, >, " or \ anywhere; urllib's
# urlsplit is several times slower.
_ADDRESS = re.compile(
    r"^(?:([A-Za-z][A-Za-z0-9+.-]*)://|//)?([^/?#:\[\]\s<>\"\\]+)(?::([^/?#\s<>\"\\]*))?"
    r"(?:[/?#][^\s<>\"\\]*)?\Z"
)
_URL_PARTS = frozenset("/:?#")
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

    def changes(self, current: Account) -> bool:
        return any(getattr(current, name) != value for name, value in self.values.items())

    def applied_to(self, current: Account | None) -> Account:
        if current is None:  # most of a first import: skip replace()'s copy
            return Account(self.domain, **self.values)
        return replace(current, **self.values)


def parse_update(raw: Mapping[str, Any]) -> AccountUpdate:
    """Check every field of one row or object; FieldError names the first bad one."""
    if raw.get("domain") in (None, ""):
        raise FieldError("domain", "no domain or website")
    domain = parse_domain(raw["domain"])
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "domain":
            continue
        parse = _PARSERS.get(name)
        if parse is None:
            raise FieldError(name, f"unknown field (known: {', '.join(FIELDS)})")
        values[name] = parse(value)
    return AccountUpdate(domain, values)


def parse_columns(columns: Mapping[str, Sequence[str]]) -> list[AccountUpdate | FieldError]:
    """parse_update for many rows given as columns (field -> each row's text, as a CSV holds it,
    `domain` required), with the same answer for every row: its update, or the FieldError
    parse_update raises for it (a row's first bad field, the domain first, then in `columns`'
    order). Each distinct value of a column is parsed once, and a text column that is all
    printable and short enough is taken whole: a 100,000-row import spends its time on domains."""
    domains = columns["domain"]
    results: dict[str, list[Any]] = {"domain": _parse_column(_parse_domain_cell, domains)}
    for name, values in columns.items():
        if name != "domain":
            limit = TEXT_LIMITS[name] if name in _PLAIN_TEXT else None
            results[name] = _parse_column(_PARSERS[name], values, limit)
    bad: dict[int, FieldError] = {}
    for column in results.values():  # domain first: setdefault keeps each row's first error
        if FieldError in map(type, column):
            for i, value in enumerate(column):
                if value.__class__ is FieldError:
                    bad.setdefault(i, value)
    names = [name for name in results if name != "domain"]
    rows = zip(*(results[n] for n in names), strict=True) if names else repeat((), len(domains))
    out: list[AccountUpdate | FieldError] = [
        AccountUpdate(domain, dict(zip(names, values, strict=True)))
        for domain, values in zip(results["domain"], rows, strict=True)
    ]
    for i, error in bad.items():
        out[i] = error
    return out


def _parse_domain_cell(value: str) -> str:
    if value == "":
        raise FieldError("domain", "no domain or website")
    return parse_domain(value)


def _parse_column(
    parse: Callable[[Any], Any], values: Sequence[str], text_limit: int | None = None
) -> list[Any]:
    """Each value parsed (or the FieldError it raised), each distinct value once."""
    if text_limit is not None and all(map(str.isprintable, values)):
        stripped = list(map(str.strip, values))
        if max(map(len, stripped), default=0) <= text_limit:
            return stripped
    parsed: dict[str, Any] = {}
    for value in set(values):
        try:
            parsed[value] = parse(value)
        except FieldError as exc:
            parsed[value] = exc
    return list(map(parsed.__getitem__, values))


def parse_domain(value: Any) -> str:
    """A domain, a host or a web address -> its registrable domain (`acme.co.uk`)."""
    if not isinstance(value, str):
        raise FieldError("domain", "expected a domain or a web address")
    text = value.strip()
    if "@" in text:
        raise FieldError("domain", f"an email address, not a domain: {text!r}")
    if text.isascii() and not _URL_PARTS.intersection(text):
        host = text  # a bare domain (most CRM cells): valid_domain refuses what _ADDRESS would
    else:
        match = _ADDRESS.match(text)
        if match is None:
            raise FieldError("domain", f"not a web address: {text!r}")
        scheme, host, port = match.groups()
        if (scheme and scheme.lower() not in ("http", "https")) or (
            port is not None and not _port(port)
        ):
            raise FieldError("domain", f"not a web address: {text!r}")
    try:
        ascii_host = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        raise FieldError("domain", f"not a domain name: {text!r}") from None
    if not valid_domain(ascii_host):
        raise FieldError("domain", f"not a web address: {text!r}")
    domain = find_registrable_domain(ascii_host, platforms=True)
    if not domain:
        raise FieldError("domain", f"{text!r} is a public suffix, not a company's domain")
    return domain


def _port(text: str) -> bool:
    return text.isdigit() and 0 < int(text) < 65536


def parse_text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FieldError(name, "expected text")
    text = (value if value.isprintable() else _CONTROL.sub(" ", value)).strip()
    if len(text) > TEXT_LIMITS[name]:
        raise FieldError(name, f"longer than {TEXT_LIMITS[name]} characters")
    return text


def _text_parser(name: str) -> Callable[[Any], str]:
    """parse_text for one field, with a short cut for the common case (printable, short)."""
    limit = TEXT_LIMITS[name]

    def parse(value: Any) -> str:
        if value.__class__ is str and value.isprintable():
            text: str = value.strip()
            if len(text) <= limit:
                return text
        return parse_text(name, value)

    return parse


def parse_employees(value: Any) -> int | None:
    """250, '1,200', '1 200', '250.0', '10000+' -> a whole number; '' or None -> unknown."""
    if (  # most cells: digits with or without thousands' commas
        value.__class__ is str
        and (digits := value.replace(",", "")).isdecimal()
        and len(digits) <= 12
        and (number := int(digits)) <= MAX_EMPLOYEES
    ):
        return number
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
    if value.__class__ is str and value.isdecimal() and len(value) <= 16:  # most cells
        return float(value)
    if isinstance(value, int | float) or (isinstance(value, str) and _PLAIN_NUMBER.match(value)):
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


_owner_text = _text_parser("owner")


def parse_owner(value: Any) -> str:
    owner = _owner_text(value)
    return owner.lower() if "@" in owner and EMAIL.match(owner) else owner


_PLAIN_TEXT = frozenset({"name", "industry", "stage", "crm_id"})  # parse_text, nothing more
_PARSERS: dict[str, Callable[[Any], Any]] = {
    "name": _text_parser("name"),
    "industry": _text_parser("industry"),
    "employees": parse_employees,
    "revenue": parse_revenue,
    "country": parse_country,
    "owner": parse_owner,
    "stage": _text_parser("stage"),
    "crm_id": _text_parser("crm_id"),
}


def stage_class(stage: str) -> str:
    """What a CRM stage means here: customer, opportunity, lead, partner, other, or ''.
    HubSpot lifecycle stages (`Customer`, `Evangelist`, `Opportunity`, `Sales Qualified Lead`,
    or their internal names) and Salesforce account types (`Customer - Direct`, `Prospect`,
    `Channel Partner / Reseller`) both read."""
    key = _NOT_ALNUM.sub("", stage.casefold())
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
    collapsed = _INITIALISM.sub(_no_dots, name) if name.count(".") > 1 else name
    key = normalise_name(collapsed)
    if not key.startswith("the-") and key.rpartition("-")[2] not in _MORE_LEGAL:
        return key  # most names: nothing more to drop
    parts = key.split("-")
    while len(parts) > 1:  # each list of legal forms may uncover one of the other ("S.A. de C.V.")
        before = len(parts)
        if parts[0] == "the":
            parts.pop(0)
        while len(parts) > 1 and parts[-1] in _MORE_LEGAL:
            parts.pop()
        if len(parts) == before:
            break
        parts = normalise_name(" ".join(parts)).split("-")
    return "-".join(parts)


def _no_dots(match: re.Match[str]) -> str:
    return match.group(0).replace(".", "") + " "
