"""CLI: `intent accounts import FILE --site S [--dry-run]` and `intent accounts list --site S`.

While `intent serve` holds the embedded database, intent.cli.main runs these through it
(intent.remote), with FILE's path made absolute.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter

from collector.settings import Settings
from collector.store import Store
from intent.accounts.config import site_config
from intent.accounts.csvfile import read_file
from intent.accounts.fit import grade
from intent.accounts.owners import Owners
from intent.accounts.table import every, upsert
from intent.command import CliError, open_store, settings
from intent.migrate import migrate

LIST_COLUMNS = ("domain", "name", "industry", "employees", "revenue", "country", "owner", "stage",
                "crm_id", "fit")  # fmt: skip


def _site_settings(site: str) -> Settings:
    s = settings()
    if site not in s.sites:
        raise CliError(f"--site: unknown site {site!r} (sites: {', '.join(s.sites) or 'none'})")
    return s


def _store(s: Settings) -> Store:
    store = open_store(s)
    migrate(store, s)  # a first import may come before the first `intent serve`
    return store


def unmapped_owners(owners: Owners, values: list[str]) -> list[str]:
    """`Bob Jones (3 accounts)` for each owner name no [owners] entry maps, commonest first."""
    counts = Counter(v.strip() for v in values if owners.unmapped(v))
    return [f"{name} ({n} account{'' if n == 1 else 's'})" for name, n in counts.most_common()]


def cmd_import(args: argparse.Namespace) -> int:
    s = _site_settings(args.site)
    config = site_config(s.sites[args.site])
    store = _store(s)
    try:
        parsed = read_file(args.file)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    for number, why in parsed.errors:
        print(f"line {number}: {why}", file=sys.stderr)
    updates = [u for _line, u in parsed.updates]
    changes = upsert(store, args.site, updates, dry_run=args.dry_run)
    unmapped = unmapped_owners(config.owners, [u.values.get("owner", "") for u in updates])
    if unmapped:
        print(f"owners not in [sites.{args.site}.owners], so their accounts count as unowned: "
              + ", ".join(unmapped))  # fmt: skip
    if args.dry_run:
        for line in changes.lines():
            print(line)
    tail = f", skipped {len(parsed.errors)} bad row(s)" if parsed.errors else ""
    if parsed.repeated:
        tail += f"; {parsed.repeated} row(s) repeated an earlier domain (the later row wins)"
    print(
        changes.summary(args.dry_run)
        + tail
        + (" (dry run: nothing written)" if args.dry_run else "")
    )
    return 1 if parsed.errors else 0


def cmd_list(args: argparse.Namespace) -> int:
    """The site's accounts as CSV, in the plain import format (plus the fit grade)."""
    s = _site_settings(args.site)
    config = site_config(s.sites[args.site])
    accounts = every(_store(s), args.site)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(LIST_COLUMNS)
    for a in accounts:
        fit = grade(config.fit, a.industry, a.employees, a.country).grade or ""
        revenue = (
            ""
            if a.revenue is None
            else f"{a.revenue:.0f}"
            if a.revenue.is_integer()
            else str(a.revenue)
        )
        out.writerow([a.domain, a.name, a.industry, "" if a.employees is None else a.employees,
                      revenue, a.country, a.owner, a.stage, a.crm_id, fit])  # fmt: skip
    if not accounts:
        print(f"no accounts for {args.site} (import a CRM export with "
              f"`intent accounts import FILE.csv --site {args.site}`)", file=sys.stderr)  # fmt: skip
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    accounts = sub.add_parser("accounts", help="the site's CRM accounts (docs/accounts.md)")
    accounts_sub = accounts.add_subparsers(
        dest="accounts_command", required=True, metavar="COMMAND"
    )
    p = accounts_sub.add_parser(
        "import", help="import a HubSpot, Salesforce or plain CSV export (upsert by domain)"
    )
    p.add_argument("file")
    p.add_argument("--site", required=True)
    p.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    p.set_defaults(func=cmd_import)
    p = accounts_sub.add_parser("list", help="print the site's accounts as CSV")
    p.add_argument("--site", required=True)
    p.set_defaults(func=cmd_list)
