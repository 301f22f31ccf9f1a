"""`intent webhooks`: `log` (each message's or attempt's outcome), `test` (a signed test event
to each of a site's webhooks, now) and `redeliver ID` (a message sent again with its id)."""

from __future__ import annotations

import argparse
import time

import httpx

from collector.store import Store
from intent.command import CliError, command_group, open_store, settings, site_arg
from intent.ssrf_guard import Refused
from intent.webhooks import TIMEOUT, make_test_event, requeue, send

LOG = """
    SELECT id, site, url, event, company_key, status, attempts, next_attempt_at, last_status,
           last_error, created_at, updated_at
    FROM webhook_deliveries FINAL
    WHERE ({site:String} = '' OR site = {site:String})
    ORDER BY created_at DESC, id
    LIMIT {limit:UInt32}
"""
ATTEMPTS = """
    SELECT id, site, url, attempt, at, status_code, error, duration_ms
    FROM webhook_attempts
    WHERE ({site:String} = '' OR site = {site:String})
    ORDER BY at DESC
    LIMIT {limit:UInt32}
"""


def cmd_log(args: argparse.Namespace) -> int:
    store = open_store(settings())
    bound = {"site": args.site or "", "limit": args.limit}
    if args.attempts:
        rows = store.query_dicts(ATTEMPTS, bound)
        for r in rows:
            outcome = f"HTTP {r['status_code']}" if r["status_code"] else "no response"
            print(f"{r['at']:%Y-%m-%d %H:%M:%S}  {r['id']}  #{r['attempt']}  {outcome}  "
                  f"{r['duration_ms']} ms  {r['url']}  {r['error']}".rstrip())  # fmt: skip
    else:
        rows = store.query_dicts(LOG, bound)
        for r in rows:
            detail = r["last_error"] or (f"HTTP {r['last_status']}" if r["last_status"] else "")
            when = (
                f"next {r['next_attempt_at']:%Y-%m-%d %H:%M:%S}" if r["status"] == "pending" else ""
            )
            print(f"{r['created_at']:%Y-%m-%d %H:%M:%S}  {r['site']}  {r['event']}  {r['company_key']}  "
                  f"{r['status']}  attempts={r['attempts']}  {detail}  {when}  {r['url']}  {r['id']}")  # fmt: skip
    if not rows:
        print("no webhook deliveries yet")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    site = site_arg(settings(), args.site)
    if not site.webhooks:
        raise CliError(f"site {site.name} has no [[sites.{site.name}.webhooks]]")
    failed = 0
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client:
        for hook in site.webhooks:
            msg_id, body = make_test_event(site.name)
            started = time.monotonic()
            try:
                code = send(client, hook, msg_id, body)
                outcome = f"HTTP {code} ({int((time.monotonic() - started) * 1000)} ms)"
                failed += not 200 <= code < 300
            except Refused as exc:
                outcome, failed = f"refused: {exc}", failed + 1
            except (httpx.HTTPError, OSError) as exc:
                outcome, failed = f"failed: {type(exc).__name__}: {exc}"[:300], failed + 1
            print(f"{hook.url}: {outcome}", flush=True)
    if failed:
        raise CliError(f"{failed} of {len(site.webhooks)} webhooks did not answer 2xx")
    return 0


def cmd_redeliver(args: argparse.Namespace) -> int:
    s = settings()
    store: Store = open_store(s)
    row = requeue(store, args.id)
    if row is None:
        raise CliError(f"no webhook message {args.id!r}")
    config = s.sites.get(row["site"])
    if config is None or all(h.url != row["url"] for h in config.webhooks):
        print(f"{args.id}: queued again, but {row['url']} is no longer a webhook of site "
              f"{row['site']}: it will be dropped")  # fmt: skip
        return 0
    print(f"{args.id}: queued again for {row['url']} (was {row['status']})")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hooks_sub = command_group(sub, "webhooks", "webhook deliveries")
    lg = hooks_sub.add_parser("log", help="each delivery's outcome, newest first")
    lg.add_argument("--site")
    lg.add_argument("--limit", type=int, default=50)
    lg.add_argument(
        "--attempts", action="store_true", help="every attempt instead of every message"
    )
    lg.set_defaults(func=cmd_log)
    test = hooks_sub.add_parser("test", help="send a signed webhook.test event to each webhook now")
    test.add_argument("--site", required=True)
    test.set_defaults(func=cmd_test)
    again = hooks_sub.add_parser("redeliver", help="send a message again (its id from `log`)")
    again.add_argument("id", metavar="ID")
    again.set_defaults(func=cmd_redeliver)
