"""The `accounts` table (0040): upsert by (site, domain) with what changed, keyset pages, and
the lookup matching needs (one query for many companies)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from collector.store import Store, ch_time
from intent.accounts.bulk import collector_paused
from intent.accounts.fields import FIELDS, Account, AccountUpdate, name_key

ACCOUNT_COLUMNS = "domain, name, industry, employees, revenue, country, owner, stage, crm_id"
SITE_ACCOUNTS = f"SELECT {ACCOUNT_COLUMNS} FROM accounts FINAL WHERE site = {{site:String}}"  # noqa: S608  joins constants
ALL_ACCOUNTS = SITE_ACCOUNTS + " ORDER BY domain"
ACCOUNTS_BY_DOMAIN = f"""
    SELECT {ACCOUNT_COLUMNS} FROM accounts FINAL
    WHERE site = {{site:String}} AND domain IN {{domains:Array(String)}}
"""  # noqa: S608  joins constants
# The accounts a batch of identified companies may match: by domain, or by normalised name.
MATCH_CANDIDATES = f"""
    SELECT {ACCOUNT_COLUMNS} FROM accounts FINAL
    WHERE site = {{site:String}}
      AND (domain IN {{domains:Array(String)}} OR name_key IN {{names:Array(String)}})
"""  # noqa: S608  joins constants
LIST_ACCOUNTS = f"""
    SELECT {ACCOUNT_COLUMNS}, updated_at FROM accounts FINAL
    WHERE site = {{site:String}}
      AND updated_at >= {{since:DateTime64(3, 'UTC')}}
      AND (updated_at, domain) > ({{after_t:DateTime64(3, 'UTC')}}, {{after_k:String}})
    ORDER BY updated_at, domain
    LIMIT {{limit:UInt32}}
"""  # noqa: S608  joins constants
COUNT_ACCOUNTS = "SELECT count() FROM accounts FINAL WHERE site = {site:String}"
WHOLE_SITE_ABOVE = 5000  # domains in one batch past which reading the site's accounts is cheaper


@dataclass
class Changes:
    """What an upsert did (or, dry, would do)."""

    added: list[Account] = field(default_factory=list)
    updated: list[tuple[Account, Account]] = field(default_factory=list)  # (before, after)
    unchanged: int = 0

    def summary(self, dry_run: bool = False) -> str:
        verb = "would add" if dry_run else "added"
        again = "would update" if dry_run else "updated"
        return f"{verb} {len(self.added)}, {again} {len(self.updated)}, unchanged {self.unchanged}"

    def lines(self) -> list[str]:
        """One line per change: `+ domain  name` for a new account, `~ domain  field: a -> b`."""
        out = [f"+ {a.domain}  {a.name}" for a in self.added]
        for before, after in self.updated:
            diffs = [
                f"{name}: {_show(getattr(before, name))} -> {_show(getattr(after, name))}"
                for name in FIELDS
                if getattr(before, name) != getattr(after, name)
            ]
            out.append(f"~ {after.domain}  " + ", ".join(diffs))
        return out


def _show(value: Any) -> str:
    if value is None or value == "":
        return "(none)"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,}"
    return str(value)


def account(row: Sequence[Any]) -> Account:
    domain, name, industry, employees, revenue, country, owner, stage, crm_id = row[:9]
    return Account(
        domain, name, industry, None if employees is None else int(employees),
        None if revenue is None else float(revenue), country, owner, stage, crm_id,
    )  # fmt: skip


def current(store: Store, site: str, domains: Iterable[str]) -> dict[str, Account]:
    wanted = sorted(set(domains))
    if not wanted:
        return {}
    if len(wanted) > WHOLE_SITE_ABOVE:
        rows = store.query(SITE_ACCOUNTS, {"site": site})
    else:
        rows = store.query(ACCOUNTS_BY_DOMAIN, {"site": site, "domains": wanted})
    return {r[0]: account(r) for r in rows}


def upsert(
    store: Store, site: str, updates: Sequence[AccountUpdate], dry_run: bool = False
) -> Changes:
    """Apply updates (one per domain) to the stored accounts; write only what changed."""
    with collector_paused():
        return _upsert(store, site, updates, dry_run)


def _upsert(store: Store, site: str, updates: Sequence[AccountUpdate], dry_run: bool) -> Changes:
    stored = current(store, site, (u.domain for u in updates))
    changes = Changes()
    for update in updates:
        before = stored.get(update.domain)
        if before is None:
            changes.added.append(update.applied_to(None))
        elif update.changes(before):
            changes.updated.append((before, update.applied_to(before)))
        else:
            changes.unchanged += 1
    written = changes.added + [after for _before, after in changes.updated]
    if written and not dry_run:
        store.insert_columns("accounts", _columns(site, written, ch_time(datetime.now(UTC))))
    return changes


def _columns(site: str, accounts: list[Account], stamp: str) -> dict[str, list[Any]]:
    """The accounts as the table's columns (one JSONColumns block: no dict per row)."""
    columns = {name: list(map(attrgetter(name), accounts)) for name in FIELDS}
    columns["name_key"] = list(map(name_key, columns["name"]))
    columns["site"], columns["updated_at"] = [site] * len(accounts), [stamp] * len(accounts)
    return columns


def candidates(
    store: Store, site: str, domains: Iterable[str], names: Iterable[str]
) -> list[Account]:
    """Every account of the site with one of these domains or normalised names."""
    bound = {"site": site, "domains": sorted(set(domains)), "names": sorted(set(names))}
    if not bound["domains"] and not bound["names"]:
        return []
    return [account(r) for r in store.query(MATCH_CANDIDATES, bound)]


def every(store: Store, site: str) -> list[Account]:
    return [account(r) for r in store.query(ALL_ACCOUNTS, {"site": site})]


def page(
    store: Store, site: str, since: str, after_t: str, after_k: str, limit: int
) -> list[tuple[Account, datetime]]:
    """One keyset page by (updated_at, domain), with each account's updated_at."""
    bound = {"site": site, "since": since, "after_t": after_t, "after_k": after_k, "limit": limit}
    return [(account(r), r[9]) for r in store.query(LIST_ACCOUNTS, bound)]
