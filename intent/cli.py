"""`intent`: the one command-line entry point. Errors are one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from contextvars import ContextVar
from datetime import date
from pathlib import Path

from collector.settings import Settings, SettingsError, SiteConfig, load_settings
from intent.store import Store, StoreError, StoreLockedError, connect

STARTER_CONFIG = """\
# intent configuration: sites, their domains, scoring rules, digest and webhooks.
# Deployment settings (ClickHouse URL, port, MaxMind files...) are INTENT_* environment
# variables: see docs/configuration.md.

[sites.localhost]
domains = ["localhost", "127.0.0.1"]
# respect_dnt = true          # drop visits that send Do-Not-Track / Global Privacy Control
# exclude_domains = ["example.com"]   # your own company and existing customers
# exclude_cidrs = ["203.0.113.0/24"]  # your office
# digest_recipients = ["sales@example.com"]
# slack_webhook = "https://hooks.slack.com/services/..."

# Scoring rules (docs/scoring.md). Keep this block last: every key after a [table] line belongs
# to that table. Every key is optional; the values shown are the defaults.
# [sites.localhost.rules]
# half_life_days = 7            # points lose half their value every 7 days
# hot = 50                      # hot: score >= 50 AND a buying signal in the last 7 days
# warm = 20
# buying_window_days = 7
# cap_per_visitor_day = 40      # one visitor adds at most 40 points a day
# window_days = 30              # days of history read per scoring run
# breadth = { points = 5, max = 20 }     # per extra distinct visitor
# frequency = { points = 3, max = 15 }   # per extra active day
# customer = { paths = ["/login*", "/signin*", "/app", "/app/*"], events = ["login"] }
# [sites.localhost.rules.signals]  # replaces the default signals; counted once per visitor per day
# demo_request = { event = "demo_request", points = 20, buying = true }
# demo = { paths = ["/demo*", "/request-demo*", "/book-demo*"], points = 15, buying = true }
# pricing = { paths = ["/pricing*", "/plans*"], points = 10, buying = true }
# webinar = { paths = ["/webinar*"], points = 10 }
# case_studies = { paths = ["/case-stud*", "/customers/*"], points = 5 }
# ebook = { paths = ["/ebook*", "/resources/ebook*", "/whitepaper*"], points = 5 }
# blog = { paths = ["/blog/*"], points = 1 }
# careers = { paths = ["/careers*", "/jobs*"], points = -10 }   # job seekers, not buyers
# integrations = { regex = "^/integrations/[a-z-]+$", points = 3 }   # one of your own
"""


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


# Set while the server runs a command for a CLI (intent.remote): the server's own settings.
SERVER_SETTINGS: ContextVar[Settings | None] = ContextVar("server_settings", default=None)


def settings(require_config: bool = True) -> Settings:
    return SERVER_SETTINGS.get() or load_settings(require_config=require_config)


def open_store(s: Settings) -> Store:
    return connect(s.clickhouse_url)


def day_arg(raw: str | None, site: SiteConfig) -> date:
    """A `--date YYYY-MM-DD` option, or today where the site's sales team is (the day the
    scheduler scores)."""
    from intent.schedule import site_today

    if not raw:
        return site_today(site)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise CliError(f"--date: expected YYYY-MM-DD, got {raw!r}") from None


def cmd_init(args: argparse.Namespace) -> int:
    """The starter intent.toml and, unless INTENT_SECRET is set, the server secret beside it;
    each only if missing."""
    import os

    from collector.secret import secret_path, write_secret

    path = Path(args.config)
    secret = secret_path(path)
    try:
        wrote = not os.environ.get("INTENT_SECRET") and write_secret(secret)
    except OSError as exc:
        raise CliError(f"cannot write {secret}: {exc.strerror} (or set INTENT_SECRET)") from None
    if wrote:
        print(f"wrote {secret}: the server secret (owner-only; keep it, never in version control)")
    if path.exists():
        if args.if_missing or wrote:
            return 0
        raise CliError(f"{path} already exists; not overwriting it")
    path.write_text(STARTER_CONFIG, encoding="utf-8")
    print(f"wrote {path} with one site, 'localhost'")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from intent.migrate import dry_run, migrate

    s = settings(require_config=False)
    if args.dry_run:
        store = None
        if not args.all:
            try:
                store = open_store(s)
            except StoreError as exc:
                print(f"-- {exc}: showing every migration")
        print(dry_run(s, store))
        return 0
    done = migrate(open_store(s), s)
    for line in done:
        print(line)
    if not done:
        print("schema is up to date")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    s = settings()
    host = args.host or s.host
    port = args.port or s.port
    workers = args.workers or s.workers
    if s.embedded and workers > 1:
        raise CliError(
            f"--workers {workers}: the embedded ClickHouse (chdb://) can be opened by one "
            "process only; run 1 worker, or set INTENT_CLICKHOUSE_URL to a ClickHouse server"
        )
    from collector.app import UVICORN_OPTIONS, create_app
    from collector.secret import server_secret
    from intent.migrate import migrate

    _check_spool_dir(s)
    server_secret(s)  # INTENT_SECRET or its file, made now: before any worker, or one line
    # Migrate here, once, before any worker starts: a locked or unreachable database is then
    # one line, and N workers never race each other through the migrations.
    migrate(open_store(s), s)
    configure_logging(s)
    print(f"intent serving on http://{host}:{port} (ClickHouse {_where(s)})", flush=True)
    if workers > 1:
        uvicorn.run("intent.asgi:app", host=host, port=port, workers=workers,
                    timeout_graceful_shutdown=20, **UVICORN_OPTIONS)  # fmt: skip
    else:
        uvicorn.run(create_app(s), host=host, port=port,
                    timeout_graceful_shutdown=20, **UVICORN_OPTIONS)  # fmt: skip
    return 0


def configure_logging(s: Settings) -> None:
    """One log format for the server and each of its workers (INTENT_LOG_LEVEL)."""
    logging.basicConfig(
        level=s.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _check_spool_dir(s: Settings) -> None:
    """The spool must be a writable directory; say so now, naming the setting."""
    import os

    try:
        s.spool_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(
            "INTENT_SPOOL_DIR", f"cannot create {s.spool_dir}: {exc.strerror}"
        ) from None
    if not os.access(s.spool_dir, os.W_OK | os.X_OK):
        raise SettingsError("INTENT_SPOOL_DIR", f"{s.spool_dir} is not writable")


def _where(s: Settings) -> str:
    from intent.store import describe

    return describe(s.clickhouse_url)


def cmd_sites(args: argparse.Namespace) -> int:
    """The configured sites: what each accepts, its rules at a glance, and its snippet tag.
    Reads intent.toml only, so it works while the server holds the database."""
    s = settings()
    if not s.sites:
        raise CliError(f"no sites in {s.config_path} (add a [sites.NAME] table)")
    base = args.url.rstrip("/") if args.url else f"http://{s.host}:{s.port}"
    for site in s.sites.values():
        rules = site.rules
        print(f"{site.name}")
        print(f"  domains: {', '.join(site.domains)}")
        print(f"  scoring: hot >= {rules.hot:g} with a buying signal in {rules.buying_window_days} days, "
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
    sql = """
        SELECT site, count() AS events, countIf(type = 'pageview') AS pageviews,
               uniqExact(visitor_id) AS visitors, uniqExactIf(company_key, company_key != '') AS companies,
               max(ts) AS last_event
        FROM events
        WHERE ({site:String} = '' OR site = {site:String})
          AND ts >= now64(3) - toIntervalDay({days:UInt32})
        GROUP BY site ORDER BY site
    """
    rows = store.query_dicts(sql, {"site": args.site or "", "days": args.days})
    dropped = store.query(
        "SELECT site, reason, sum(count) FROM dropped_events "
        "WHERE ({site:String} = '' OR site = {site:String}) AND day >= today() - {days:UInt32} "
        "GROUP BY site, reason ORDER BY site, reason",
        {"site": args.site or "", "days": args.days},
    )
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


Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intent", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the collector, API and dashboard")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("init", help="write a starter intent.toml and the server secret")
    p.add_argument("--config", default=_config_default())
    p.add_argument("--if-missing", action="store_true", help="do nothing if the file exists")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("migrate", help="apply pending schema migrations")
    p.add_argument("--dry-run", action="store_true", help="print the SQL, change nothing")
    p.add_argument("--all", action="store_true", help="with --dry-run: every migration")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("sites", help="the configured sites, their rules and snippet tags")
    p.add_argument("--url", help="the collector's public URL for the snippet tag")
    p.set_defaults(func=cmd_sites)

    p = sub.add_parser("stats", help="events, visitors and drops per site")
    p.add_argument("--site")
    p.add_argument("--days", type=int, default=30)
    p.set_defaults(func=cmd_stats)

    for register in _extensions():
        register(sub)
    return parser


def _config_default() -> str:
    import os

    return os.environ.get("INTENT_CONFIG", "intent.toml")


def _extensions() -> list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]]:
    """Command groups that live beside the code they drive (each module has `register`)."""
    import importlib

    out = []
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        out.append(module.register)
    return out


# Modules that add subcommands: each defines register(subparsers).
COMMAND_MODULES: tuple[str, ...] = (
    "intent.scoring_cli",
    "intent.users",
    "intent.keys",
    "collector.enrich.commands",
    "intent.webhooks",
    "intent.digest",
    "intent.demo",
)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except StoreLockedError as exc:  # the running server holds the embedded database
        from intent import remote

        forwarded = remote.forward(sys.argv[1:] if argv is None else argv)
        if forwarded is not None:
            return forwarded
        print(f"intent {args.command}: {exc}", file=sys.stderr)
        return 1
    except (SettingsError, StoreError, CliError) as exc:
        print(f"intent {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"intent {args.command}: {exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
