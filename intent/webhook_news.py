"""What is news to which webhook: when each piece of news (a company's transition on a day) was
first noticed, and when each webhook was first configured (tables of migration 0026). A webhook
gets only news noticed since it was added, so adding (or renaming) one does not replay the day's
transitions to it (docs/webhooks.md). Each row is written once, the first time it is seen."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from collector.store import Store, ch_time

News = tuple[date, str, str]  # (day, company key, event)

NOTICED = """
    SELECT day, company_key, event, min(noticed_at)
    FROM webhook_news
    WHERE site = {site:String} AND day IN {days:Array(Date)} AND company_key IN {keys:Array(String)}
    GROUP BY day, company_key, event
"""
ADDED = "SELECT url, min(added_at) FROM webhook_targets WHERE site = {site:String} GROUP BY url"


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def noticed_at(
    store: Store, site: str, news: Iterable[News], now: datetime
) -> dict[News, datetime]:
    """When each piece of news was first noticed; news not seen before is recorded as `now`."""
    wanted = set(news)
    bound = {"site": site, "days": sorted({d for d, _, _ in wanted}),
             "keys": sorted({k for _, k, _ in wanted})}  # fmt: skip
    seen = {(d, k, e): _utc(t) for d, k, e, t in store.query(NOTICED, bound)}
    new = sorted(wanted - set(seen))
    store.insert_rows("webhook_news", [
        {"site": site, "day": d.isoformat(), "company_key": k, "event": e, "noticed_at": ch_time(now)}
        for d, k, e in new
    ])  # fmt: skip
    return {**seen, **dict.fromkeys(new, now)}


def added_at(store: Store, site: str, urls: Iterable[str], now: datetime) -> dict[str, datetime]:
    """When each webhook URL was first configured for the site; a new one is recorded as `now`."""
    seen = {str(url): _utc(t) for url, t in store.query(ADDED, {"site": site})}
    new = sorted(set(urls) - set(seen))
    store.insert_rows("webhook_targets", [
        {"site": site, "url": url, "added_at": ch_time(now)} for url in new
    ])  # fmt: skip
    return {**seen, **dict.fromkeys(new, now)}
