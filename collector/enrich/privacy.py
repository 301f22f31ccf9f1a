"""Forgetting a visitor: their events, daily activity and identities are deleted.

Rollups without a visitor (daily_companies, dropped_events) hold no personal data and stay.
"""

from __future__ import annotations

from intent.store import Store

# Table -> (count, delete). Deletes are mutations; mutations_sync waits until they are done.
FORGET = {
    "events": (
        "SELECT count() FROM events WHERE site = {site:String} AND visitor_id = {visitor:String}",
        "ALTER TABLE events DELETE WHERE site = {site:String} AND visitor_id = {visitor:String}",
    ),
    "daily_activity": (
        "SELECT count() FROM daily_activity WHERE site = {site:String} AND visitor_id = {visitor:String}",
        "ALTER TABLE daily_activity DELETE WHERE site = {site:String} AND visitor_id = {visitor:String}",
    ),
    "identities": (
        "SELECT count() FROM identities WHERE site = {site:String} AND visitor_id = {visitor:String}",
        "ALTER TABLE identities DELETE WHERE site = {site:String} AND visitor_id = {visitor:String}",
    ),
}


def forget_visitor(store: Store, site: str, visitor_id: str) -> dict[str, int]:
    """Delete one visitor's rows; returns rows deleted per table."""
    params = {"site": site, "visitor": visitor_id}
    deleted: dict[str, int] = {}
    for table, (count, delete) in FORGET.items():
        deleted[table] = int(store.scalar(count, params) or 0)
        if deleted[table]:
            store.command(delete, params, settings={"mutations_sync": 2})
    return deleted
