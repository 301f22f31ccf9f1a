"""Identified companies -> the site's CRM accounts, and the `account` every company carries.

A company matches an account by registrable domain first (a visit from `eu.acme.com` or
`www.acme.com` is the account `acme.com`), else by normalised organisation name (`ACME Corp.`
is `Acme, Inc.`) when exactly one account has that name; the method is kept (`domain`/`name`).
`attach_accounts` does this for a list of company rows with one query per site.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from collector.enrich.psl import registrable_domain
from collector.site_settings import SiteConfig
from collector.store import Store
from intent.accounts.config import AccountsConfig, site_config
from intent.accounts.fields import CUSTOMER, Account, name_key, stage_class
from intent.accounts.fit import Grade, grade
from intent.accounts.owners import fold
from intent.accounts.table import candidates

DOMAIN = "domain"
NAME = "name"
MIN_NAME_KEY = 2  # a one-letter name says nothing
NO_OWNER = "none"  # owner=none: companies nobody owns (they go to the digest recipients)


@dataclass(frozen=True, slots=True)
class Match:
    account: Account
    method: str  # DOMAIN or NAME


class AccountIndex:
    """The accounts a batch of companies may match, by domain and by normalised name."""

    def __init__(self, accounts: Iterable[Account]) -> None:
        self.by_domain: dict[str, Account] = {}
        self.by_name: dict[str, list[Account]] = {}
        for a in accounts:
            self.by_domain[a.domain] = a
            key = name_key(a.name)
            if len(key) >= MIN_NAME_KEY:
                self.by_name.setdefault(key, []).append(a)

    def match(self, domain: str, name: str) -> Match | None:
        found = self.by_domain.get(registrable_domain(domain, platforms=True)) if domain else None
        if found is not None:
            return Match(found, DOMAIN)
        named = self.by_name.get(name_key(name), []) if name else []
        if len(named) == 1:  # two accounts share the name: neither is more likely
            return Match(named[0], NAME)
        return None


def load_index(store: Store, site: str, companies: Iterable[tuple[str, str]]) -> AccountIndex:
    """The index for these (domain, name) pairs: one query."""
    pairs = list(companies)
    domains = {registrable_domain(d, platforms=True) for d, _n in pairs if d} - {""}
    names = {name_key(n) for _d, n in pairs if n}
    names = {n for n in names if len(n) >= MIN_NAME_KEY}
    return AccountIndex(candidates(store, site, domains, names))


def customer_stages(store: Store, site: str, companies: Sequence[tuple[str, str]]) -> list[str]:
    """For each (domain, name): its account's stage as the CRM wrote it when that stage means an
    existing customer, else ''. One query."""
    index = load_index(store, site, companies)
    stages = []
    for domain, name in companies:
        found = index.match(domain, name)
        customer = found is not None and stage_class(found.account.stage) == CUSTOMER
        stages.append(found.account.stage if found is not None and customer else "")
    return stages


def account_object(a: Account, config: AccountsConfig) -> dict[str, Any]:
    """What a company's `account` says (docs/accounts.md), without how it matched."""
    owner = config.owners.resolve(a.owner)
    fit = account_grade(a, config)
    return {
        "crm_id": a.crm_id,
        "name": a.name,
        "domain": a.domain,
        "owner": owner.name if owner else a.owner,
        "owner_email": owner.email if owner else None,
        "stage": stage_class(a.stage),
        "crm_stage": a.stage,
        "fit": fit.grade,
        "fit_reasons": list(fit.reasons),
    }


def account_json(match: Match, config: AccountsConfig) -> dict[str, Any]:
    return {**account_object(match.account, config), "match": match.method}


def account_grade(a: Account, config: AccountsConfig) -> Grade:
    return grade(config.fit, a.industry, a.employees, a.country)


def attach_accounts(
    store: Store,
    site: SiteConfig,
    rows: Sequence[dict[str, Any]],
    *,
    domain: str = "company_domain",
    name: str = "company_name",
    country: str = "country",
) -> Sequence[dict[str, Any]]:
    """Set `account` (the matched account's object, or None), `fit` and `fit_reasons` on each
    company row of one site, with one query. A company with no account is graded from the
    country identification found. Returns the rows."""
    config = site_config(site)
    index = load_index(store, site.name, ((r.get(domain) or "", r.get(name) or "") for r in rows))
    for row in rows:
        match = index.match(row.get(domain) or "", row.get(name) or "")
        if match is not None:
            row["account"] = account_json(match, config)
            row["fit"], row["fit_reasons"] = row["account"]["fit"], row["account"]["fit_reasons"]
        else:
            row["account"] = None
            fit = grade(config.fit, country=row.get(country) or "")
            row["fit"], row["fit_reasons"] = fit.grade, list(fit.reasons)
    return rows


def owned_by(account: dict[str, Any] | None, owner: str) -> bool:
    """The owner= filter: an address (the owner's email), a name, or `none` (no account, or
    an owner nobody can be reached at)."""
    email = account.get("owner_email") if account else None
    if owner.casefold() == NO_OWNER:
        return email is None
    if account is None:
        return False
    if "@" in owner:
        return email == owner.strip().lower()
    return fold(str(account.get("owner", ""))) == fold(owner)
