"""A visitor's right to be forgotten: `forget_visitor` deletes one visitor's rows, for
`DELETE /api/v1/sites/{site}/visitors/{visitor}` and `intent forget` alike."""

from __future__ import annotations

import argparse

from collector.pipeline import persistent_visitor_id
from collector.store import Store
from intent.command import open_store, settings, site_arg

VISITOR_COUNTS = """
    SELECT
        (SELECT count() FROM events WHERE site = {site:String} AND visitor_id IN {ids:Array(String)}),
        (SELECT count() FROM daily_activity WHERE site = {site:String} AND visitor_id IN {ids:Array(String)}),
        (SELECT count() FROM identities WHERE site = {site:String} AND visitor_id IN {ids:Array(String)})
"""
FORGET_STATEMENTS = (
    "DELETE FROM events WHERE site = {site:String} AND visitor_id IN {ids:Array(String)}",
    "DELETE FROM daily_activity WHERE site = {site:String} AND visitor_id IN {ids:Array(String)}",
    "DELETE FROM identities WHERE site = {site:String} AND visitor_id IN {ids:Array(String)}",
    "DELETE FROM attributions WHERE site = {site:String} AND visitor_id IN {ids:Array(String)}",
)


def forget_visitor(store: Store, site: str, visitor: str) -> dict[str, int]:
    """Delete one visitor's rows (raw events, daily activity, identities and the companies found
    for their visits later, attributions) for a privacy request.
    `visitor` is the stored id or the site's own id for a persistent visitor. Company-level
    rollups (daily_companies, company_scores) hold no visitor ids and are left as they are."""
    ids = [visitor, persistent_visitor_id(site, visitor)]
    bound = {"site": site, "ids": ids}
    counts = store.query(VISITOR_COUNTS, bound)[0]
    if any(counts):
        for statement in FORGET_STATEMENTS:
            store.command(statement, bound)
    return {
        "events": int(counts[0]),
        "daily_activity": int(counts[1]),
        "identities": int(counts[2]),
    }


def cmd_forget(args: argparse.Namespace) -> int:
    s = settings()
    site_arg(s, args.site)
    deleted = forget_visitor(open_store(s), args.site, args.visitor)
    rows = ", ".join(f"{n} {table} row(s)" for table, n in deleted.items())
    print(f"visitor {args.visitor} of {args.site}: deleted {rows}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("forget", help="delete one visitor's events, activity and identities")
    p.add_argument("--site", required=True)
    p.add_argument("--visitor", required=True,
                   help="the stored visitor id, or your own id for a persistent visitor")  # fmt: skip
    p.set_defaults(func=cmd_forget)
