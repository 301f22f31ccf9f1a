"""Fit: how well a company matches the ideal customer of `[sites.S.fit]`, as a grade with
reasons in words:

    [sites.shop.fit]
    industries = ["Computer Software", "Internet"]
    employees = [50, 5000]      # inclusive
    countries = ["US", "GB"]    # ISO codes or names

Each criterion is optional. A when every criterion given matches, B when all but one, C all but
two, D otherwise. A criterion the company lacks the field for is unknown: the grade is `?` when
the unknowns could change it (never a silent D). No criteria: no grade (None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from intent.accounts.countries import country_code

_BY_MISSES = ("A", "B", "C")  # more misses is D
UNKNOWN = "?"
GRADES = ("A", "B", "C", "D", UNKNOWN)
# Best first, for ordering: a company that may well fit (?) before one that surely does not (D).
ORDER = {"A": 0, "B": 1, "C": 2, UNKNOWN: 3, "D": 4}
MAX_EMPLOYEES = 10_000_000
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


class FitError(Exception):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


def industry_key(industry: str) -> str:
    """`Computer Software` and HubSpot's internal `COMPUTER_SOFTWARE` are one industry."""
    return _NOT_ALNUM.sub(" ", industry.casefold()).strip()


@dataclass(frozen=True)
class Fit:
    industries: tuple[str, ...] = ()
    employees: tuple[int, int] | None = None
    countries: tuple[str, ...] = ()  # ISO 3166-1 alpha-2

    @property
    def criteria(self) -> int:
        return bool(self.industries) + (self.employees is not None) + bool(self.countries)


@dataclass(frozen=True, slots=True)
class Grade:
    grade: str | None  # A, B, C, D, ? or None when the site describes no ideal customer
    reasons: tuple[str, ...] = ()


NO_GRADE = Grade(None)


def parse_fit(raw: Any) -> Fit:
    if not isinstance(raw, dict):
        raise FitError("", "expected a table with industries, employees, countries")
    for key in raw:
        if key not in ("industries", "employees", "countries"):
            raise FitError(key, "unknown setting (known: countries, employees, industries)")
    industries = _strings(raw, "industries")
    if any(not industry_key(i) for i in industries):
        raise FitError("industries", 'an industry is a name such as "Computer Software"')
    codes = []
    for country in _strings(raw, "countries"):
        try:
            codes.append(country_code(country))
        except ValueError as exc:
            raise FitError("countries", str(exc)) from None
    employees = None
    if "employees" in raw:
        value = raw["employees"]
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or not 0 <= value[0] <= value[1] <= MAX_EMPLOYEES
        ):
            raise FitError("employees", "expected [lowest, highest] whole numbers, lowest first")
        employees = (value[0], value[1])
    return Fit(tuple(i.strip() for i in industries), employees, tuple(dict.fromkeys(codes)))


def _strings(raw: dict[str, Any], key: str) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FitError(key, "expected a list of strings")
    return value


def grade(fit: Fit, industry: str = "", employees: int | None = None, country: str = "") -> Grade:
    """Grade what is known of a company: an account's fields, or (no account) the country
    identification found."""
    if not fit.criteria:
        return NO_GRADE
    misses = unknown = 0
    reasons = []
    if fit.industries:
        if not industry.strip():
            unknown += 1
            reasons.append("industry unknown")
        elif industry_key(industry) in {industry_key(i) for i in fit.industries}:
            reasons.append(f"{industry.strip()} ✓")
        else:
            misses += 1
            reasons.append(f"{industry.strip()} ✗ (want {', '.join(fit.industries)})")
    if fit.employees is not None:
        low, high = fit.employees
        if employees is None:
            unknown += 1
            reasons.append("employees unknown")
        else:
            people = f"{employees:,} employee{'' if employees == 1 else 's'}"
            if low <= employees <= high:
                reasons.append(f"{people} ✓")
            else:
                misses += 1
                reasons.append(f"{people} ✗ (want {low:,}–{high:,})")
    if fit.countries:
        if not country:
            unknown += 1
            reasons.append("country unknown")
        elif country.upper() in fit.countries:
            reasons.append(f"{country.upper()} ✓")
        else:
            misses += 1
            reasons.append(f"{country.upper()} ✗ (want {', '.join(fit.countries)})")
    best, worst = _letter(misses), _letter(misses + unknown)
    return Grade(best if best == worst else UNKNOWN, tuple(reasons))


def _letter(misses: int) -> str:
    return _BY_MISSES[misses] if misses < len(_BY_MISSES) else "D"
