"""`intent sites` (what each configured site accepts, its rules, its snippet tag) and
`intent stats` (events, visitors and drops per site)."""

from __future__ import annotations

import argparse

from collector.enrich.coverage import DROPPED
from intent.command import CliError, open_store, settings
from intent.score_words import buying_window
from intent.scoring import rules_of

EVENTS_BY_SITE = """
    SELECT site, count() AS events, countIf(type = 'pageview') AS pageviews,
           uniqExact(visitor_id) AS visitors, uniqExactIf(company_key, company_key != '') AS companies,
           max(ts) AS last_event
    FROM events
    WHERE ({site:String} = '' OR site = {site:String})
      AND ts >= now64(3) - toIntervalDay({days:UInt32})
    GROUP BY site ORDER BY site
"""


def cmd_sites(args: argparse.Namespace) -> int:
    """The configured sites: what each accepts, its rules at a glance, and its snippet tag.
    Reads intent.toml only, so it works while the server holds the database."""
    s = settings()
    if not s.sites:
        raise CliError(f"no sites in {s.config_path} (add a [sites.NAME] table)")
    base = args.url.rstrip("/") if args.url else f"http://{s.host}:{s.port}"
    for site in s.sites.values():
        rules = rules_of(site)
        print(f"{site.name}")
        print(f"  domains: {', '.join(site.domains)}")
        print(f"  scoring: hot >= {rules.hot:g} with a buying signal {buying_window(rules)}, "
              f"warm >= {rules.warm:g}, half-life {rules.half_life_days:g} days, "
              f"{len(rules.signals)} signals ({', '.join(sig.name for sig in rules.signals)})")  # fmt: skip
        options = [f"timezone {site.timezone}", f"digest at {site.digest_time}",
                   f"{len(site.digest_recipients)} recipient(s)", "Slack" if site.slack_webhook else "no Slack",
                   f"{len(site.webhooks)} webhook(s)", "honours DNT/GPC" if site.respect_dnt else "ignores DNT/GPC",
                   "drops hosting" if site.drop_hosting else "keeps hosting"]  # fmt: skip
        print(f"  {', '.join(options)}")
        if site.exclude_cidrs or site.exclude_domains:
            excluded = [str(n) for n in site.exclude_cidrs] + list(site.exclude_domains)
            print(f"  excluded: {', '.join(excluded)}")
        print(f'  tag: <script defer data-site="{site.name}" src="{base}/js/intent.js"></script>')
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    s = settings()
    store = open_store(s)
    bound = {"site": args.site or "", "days": args.days}
    rows = store.query_dicts(EVENTS_BY_SITE, bound)
    dropped = sorted(store.query(DROPPED, bound), key=lambda r: (r[0], r[1]))  # site, reason
    if not rows:
        print(f"no events in the last {args.days} days")
    for r in rows:
        print(
            f"{r['site']}: {r['events']} events, {r['pageviews']} page views, "
            f"{r['visitors']} visitors, {r['companies']} companies, last {r['last_event']:%Y-%m-%d %H:%M:%S} UTC"
        )
    for site, reason, count in dropped:
        print(f"{site}: dropped {count} ({reason})")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sites", help="the configured sites, their rules and snippet tags")
    p.add_argument("--url", help="the collector's public URL for the snippet tag")
    p.set_defaults(func=cmd_sites)

    p = sub.add_parser("stats", help="events, visitors and drops per site")
    p.add_argument("--site")
    p.add_argument("--days", type=int, default=30)
    p.set_defaults(func=cmd_stats)
