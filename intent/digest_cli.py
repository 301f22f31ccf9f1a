"""`intent digest`: print a site's digest for a day, or send it (email and Slack)."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

from collector.settings import Settings
from collector.site_settings import SiteConfig
from collector.store import Store
from intent.accounts.table import COUNT_ACCOUNTS
from intent.command import CliError, day_arg, open_store, settings
from intent.delivery import send_digest
from intent.digest import TOTALS, build_digest
from intent.digest_owners import for_owner
from intent.digest_render import FORMATS, render
from intent.migrate import migrate
from intent.schedule import digest_sent_at, record_digest_sent
from intent.scoring import rules_of, score_site


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("digest", help="print or send a site's daily digest")
    p.add_argument("--site", help="site name (default: the only configured site)")
    p.add_argument("--date", help="YYYY-MM-DD (default: today in the site's time zone)")
    p.add_argument("--format", choices=tuple(FORMATS), default="text")
    p.add_argument("--owner", metavar="EMAIL",
                   help="print one account owner's digest (an address or a name; 'none': the "
                        "companies nobody owns, which go to digest_recipients)")  # fmt: skip
    p.add_argument("--send", action="store_true",
                   help="email each account owner their companies and the rest to digest_recipients; post it to slack_webhook")  # fmt: skip
    p.add_argument("--send-empty", action="store_true",
                   help="with --send: send even when nothing is hot, newly warm or cooling")  # fmt: skip
    p.add_argument("--force", action="store_true",
                   help="with --send: send although that day's digest was already sent")  # fmt: skip
    p.set_defaults(func=cmd_digest)


def pick_site(settings: Settings, name: str | None) -> SiteConfig:
    """The named site, or the only one configured."""
    if name is None:
        if len(settings.sites) != 1:
            raise CliError(
                f"--site is required (configured: {', '.join(settings.sites) or 'none'})"
            )
        return next(iter(settings.sites.values()))
    site = settings.sites.get(name)
    if site is None:
        raise CliError(f"--site {name}: no such site in {settings.config_path}")
    return site


def ensure_scored(store: Store, site: SiteConfig, day: date) -> None:
    """Score the day first when its snapshot is missing (scoring is idempotent)."""
    if store.scalar(TOTALS, {"site": site.name, "day": day}):
        return
    score_site(store, site, day)


def cmd_digest(args: argparse.Namespace) -> int:
    s = settings()
    site = pick_site(s, args.site)
    day = day_arg(args.date, site)
    store = open_store(s)
    migrate(store, s)
    ensure_scored(store, site, day)
    if args.send:
        if args.owner:
            raise CliError("--owner prints one owner's digest; --send sends every owner theirs")
        if not (
            site.digest_recipients
            or site.slack_webhook
            or store.scalar(COUNT_ACCOUNTS, {"site": site.name})
        ):
            raise CliError(
                f"site {site.name} has no digest_recipients, slack_webhook or CRM accounts in "
                f"{s.config_path}: nowhere to send the digest"
            )
        sent = digest_sent_at(store, site.name, day)
        if sent is not None and not args.force:
            raise CliError(
                f"the {site.name} digest for {day} was already sent at "
                f"{sent:%Y-%m-%d %H:%M} UTC; add --force to send it again"
            )
        results = send_digest(
            s, store, site.name, day, send_empty=args.send_empty, force=args.force
        )
        if any(r.ok for r in results):  # all failed: a retry needs no --force
            record_digest_sent(store, site.name, day, datetime.now(UTC))
        if not results:
            print(f"{site.name} {day}: nothing to send (no company is hot, newly warm or cooling)")
        for r in results:
            if r.ok:
                print(f"{site.name} {day}: {r}")
        failed = [r for r in results if not r.ok]
        if failed:
            raise CliError("; ".join(str(r) for r in failed))
        return 0
    digest = build_digest(store, site.name, day, site.timezone, rules=rules_of(site), config=site,
                          dashboard_base=s.public_url or None)  # fmt: skip
    if args.owner:
        digest = for_owner(digest, args.owner[:200])
    if not digest.scored and args.format in ("text", "markdown"):
        print(digest.summary)
        return 0
    body, _ = render(digest, args.format)
    print(body, end="")
    return 0
