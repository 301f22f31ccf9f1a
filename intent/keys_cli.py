"""`intent keys`: create, list and revoke API keys (collector.keys holds the keys themselves)."""

from __future__ import annotations

import argparse
import sys

from collector.keys import CACHE_SECONDS, SCOPES, create, list_keys, revoke
from intent.command import CliError, command_group, open_store, settings


def cmd_create(args: argparse.Namespace) -> int:
    s = settings()
    unknown = [name for name in args.site if name not in s.sites]
    if unknown:
        raise CliError(f"unknown site {unknown[0]!r} (sites: {', '.join(sorted(s.sites))})")
    token, key = create(open_store(s), args.site, args.scope, args.name or "")
    print(token)
    # The key alone on stdout, so `KEY=$(intent keys create ...)` works; the note on stderr.
    print(
        f"key {key.prefix} ({key.scope}) for {', '.join(key.sites)}: shown once, store it now",
        file=sys.stderr,
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    rows = list_keys(open_store(settings()))
    if not rows:
        print("no API keys (create one with `intent keys create --site SITE`)")
    for r in rows:
        state = f"revoked {r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "active"
        print(f"{r['prefix']}  {r['scope']:<5}  {','.join(r['sites'])}  {r['name'] or '-'}  "
              f"created {r['created_at']:%Y-%m-%d %H:%M}  {state}")  # fmt: skip
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    prefix = args.prefix.removeprefix("int_").split("_")[0]
    if not revoke(open_store(settings()), prefix):
        raise CliError(f"no active key with prefix {prefix!r} (see `intent keys list`)")
    print(f"revoked {prefix}; servers stop accepting it within {CACHE_SECONDS:.0f} s")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys_sub = command_group(sub, "keys", "create, list and revoke API keys")
    c = keys_sub.add_parser("create", help="create a key (printed once)")
    c.add_argument(
        "--site", action="append", required=True, help="a site the key may read (repeatable)"
    )
    c.add_argument("--scope", choices=SCOPES, default="read", help="read (default) or write")
    c.add_argument("--name", help="a label, e.g. the CRM it is for")
    c.set_defaults(func=cmd_create)
    keys_sub.add_parser("list", help="list keys (prefix, scope, sites)").set_defaults(func=cmd_list)
    r = keys_sub.add_parser("revoke", help="revoke a key by its prefix")
    r.add_argument("prefix")
    r.set_defaults(func=cmd_revoke)
