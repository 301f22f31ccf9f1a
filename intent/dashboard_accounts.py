"""The companies list's CRM side (docs/accounts.md, docs/dashboard.md): each company's fit and
owner, the owner and fit filters, and "My accounts" for a signed-in user who owns accounts.

The dashboard never stores a user's address (intent.users keeps its SHA-256), so "my accounts"
compares that hash with the hash of each owner's address.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collector.site_settings import SiteConfig
from collector.store import Store
from intent import users
from intent.accounts.config import site_config
from intent.accounts.fit import GRADES
from intent.accounts.matching import NO_OWNER, attach_accounts, owned_by

SITE_OWNERS = "SELECT DISTINCT owner FROM accounts FINAL WHERE site = {site:String} AND owner != ''"
USER_EMAIL_HASH = """
    SELECT email_hash FROM dashboard_users FINAL WHERE user_id = {user:String} AND deleted = 0
    LIMIT 1
"""
SCAN_BATCH = 500  # companies read per query while the owner or fit filter fills a page
MAX_SCAN = 20_000  # companies looked at for one filtered page; past it the page says so


@dataclass(frozen=True)
class OwnerChoice:
    email: str
    name: str


def owner_choices(store: Store, site: SiteConfig) -> list[OwnerChoice]:
    """Every owner reachable by address (mapped names and addresses in the CRM), by name."""
    owners = site_config(site).owners
    found: dict[str, OwnerChoice] = {}
    for (value,) in store.query(SITE_OWNERS, {"site": site.name}):
        person = owners.resolve(str(value))
        if person is not None:
            found.setdefault(person.email, OwnerChoice(person.email, person.name))
    return sorted(found.values(), key=lambda o: (o.name.casefold(), o.email))


def my_choice(
    store: Store, session: users.Session, choices: list[OwnerChoice]
) -> OwnerChoice | None:
    """The owner the signed-in user is, by the hash of their address; None for an API key."""
    if session.kind != "user" or not choices:
        return None
    rows = store.query(USER_EMAIL_HASH, {"user": session.subject})
    if not rows:
        return None
    mine = str(rows[0][0])
    return next((o for o in choices if users.email_hash(o.email) == mine), None)


def parse_filters(owner: str, fit: str) -> tuple[str, str]:
    """The owner filter (an address, or `none`) and fit grade from the query, or '' if bad."""
    owner = owner.strip().lower()[:200]
    if owner != NO_OWNER and "@" not in owner:
        owner = ""
    return owner, fit if fit in GRADES else ""


def with_accounts(store: Store, site: SiteConfig, rows: list[dict[str, Any]]) -> None:
    attach_accounts(store, site, rows, domain="c_domain", name="c_name", country="c_country")


def filtered_page(
    store: Store,
    site: SiteConfig,
    fetch: Callable[[int, int], list[dict[str, Any]]],
    owner: str,
    fit: str,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], bool]:
    """Rows `offset`..`offset + limit` of the companies that pass the owner and fit filters, in
    the list's order, and whether more follow. Owner and fit are known only once accounts are
    attached, so the list is read in batches (`fetch(offset, limit)`), at most MAX_SCAN rows."""
    wanted: list[dict[str, Any]] = []
    read = 0
    while read < MAX_SCAN and len(wanted) <= offset + limit:
        batch = fetch(read, SCAN_BATCH)
        read += len(batch)
        with_accounts(store, site, batch)
        wanted += [
            r
            for r in batch
            if (not fit or r["fit"] == fit) and (not owner or owned_by(r["account"], owner))
        ]
        if len(batch) < SCAN_BATCH:
            break
    return wanted[offset : offset + limit], len(wanted) > offset + limit
