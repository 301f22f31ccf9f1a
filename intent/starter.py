"""`intent init`: the starter intent.toml, one site and every scoring rule shown commented out,
and the server secret of visitor ids beside it (docs/privacy.md)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from collector.secret import secret_path, write_secret
from intent.command import CliError

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
# hot = 50                      # hot: score >= 50 AND a buying signal 0-6 days ago
# warm = 20
# buying_window_days = 7        # today and the 6 days before
# cap_per_visitor_day = 40      # one visitor adds at most 40 points a day
# window_days = 30              # days of history read per scoring run
# breadth = { points = 5, max = 20 }     # per extra person seen on one day
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


def cmd_init(args: argparse.Namespace) -> int:
    """The starter intent.toml and, unless INTENT_SECRET is set, the server secret beside it
    (collector.secret); each only if missing."""
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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="write a starter intent.toml and the server secret")
    p.add_argument("--config", default=os.environ.get("INTENT_CONFIG", "intent.toml"))
    p.add_argument("--if-missing", action="store_true", help="do nothing if the file exists")
    p.set_defaults(func=cmd_init)
