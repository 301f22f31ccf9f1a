"""The honest match rate: of a site's page views, how many we could put a company on, from
which source, and what kind of networks they came from. Dropped traffic is shown beside it."""

from __future__ import annotations

from dataclasses import dataclass, field

from collector.store import Store

_WINDOW = (
    "site = {site:String} AND type = 'pageview' AND ts >= now64(3) - toIntervalDay({days:UInt32})"
)
# An unidentified page view of a visitor who later identified is attributed by intent, and so
# is one whose reverse-DNS answer arrived after it was stored (attributions; it may also replace
# the AS owner the view was stored with).
_IDENTIFIED = "visitor_id IN (SELECT visitor_id FROM identities WHERE site = {site:String})"
_LATE = (
    "(visitor_id, toDate(ts), {key}) IN "
    "(SELECT visitor_id, day, from_key FROM attributions WHERE site = {{site:String}})"
)
BY_SOURCE = f"""
SELECT multiIf(company_key != '' AND {_LATE.format(key="company_key")}, 'rdns (later answer)',
               company_source != '', company_source,
               {_IDENTIFIED}, 'identify (earlier visit)',
               {_LATE.format(key="''")}, 'rdns (later answer)',
               'none') AS source,
       count() AS views
FROM events WHERE {_WINDOW}
GROUP BY source ORDER BY views DESC, source
"""  # noqa: S608  joins constants
BY_CLASS = f"""
SELECT traffic_class, count() AS views FROM events WHERE {_WINDOW}
GROUP BY traffic_class ORDER BY views DESC, traffic_class
"""  # noqa: S608  joins constants
VISITORS = f"""
SELECT uniqExact(visitor_id) AS visitors,
       uniqExactIf(visitor_id, company_key != '' OR {_IDENTIFIED} OR {_LATE.format(key="''")})
FROM events WHERE {_WINDOW}
"""  # noqa: S608  joins constants
# Dropped events per site and reason ('' for every site), the most frequent first: for the
# match rate, the dashboard's dropped page and `intent stats`.
DROPPED = """
SELECT site, reason, sum(count) AS n FROM dropped_events
WHERE ({site:String} = '' OR site = {site:String}) AND day >= today() - {days:UInt32}
GROUP BY site, reason ORDER BY site, n DESC, reason
"""


@dataclass
class Coverage:
    site: str
    days: int
    page_views: int = 0
    visitors: int = 0
    identified_visitors: int = 0
    by_class: dict[str, int] = field(default_factory=dict)
    by_source: dict[str, int] = field(default_factory=dict)  # 'none' = not identified
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def identified_views(self) -> int:
        return self.page_views - self.by_source.get("none", 0)

    @property
    def match_rate(self) -> float:
        """Share of page views with a company (any source)."""
        return self.identified_views / self.page_views if self.page_views else 0.0

    def share(self, n: int) -> float:
        return n / self.page_views if self.page_views else 0.0

    def lines(self) -> list[str]:
        if not self.page_views:
            out = [f"{self.site}: no page views in the last {self.days} day(s)"]
        else:
            visitor_rate = self.identified_visitors / self.visitors if self.visitors else 0.0
            out = [
                f"{self.site}, last {self.days} day(s): {self.page_views} page views, {self.visitors} visitors",
                f"identified: {self.match_rate:.1%} of page views, {visitor_rate:.1%} of visitors",
                "by traffic class: " + _shares(self.by_class, self.page_views),
                "by company source: " + _shares(self.by_source, self.page_views),
            ]
        if self.dropped:
            dropped = ", ".join(f"{reason} {n}" for reason, n in self.dropped.items())
            out.append(f"dropped (not counted above): {dropped}")
        return out


def _shares(counts: dict[str, int], total: int) -> str:
    return ", ".join(f"{name or 'unknown'} {n / total:.1%} ({n})" for name, n in counts.items())


def coverage(store: Store, site: str, days: int = 7) -> Coverage:
    params = {"site": site, "days": days}
    result = Coverage(site, days)
    result.by_class = {str(k): int(n) for k, n in store.query(BY_CLASS, params)}
    result.by_source = {str(k): int(n) for k, n in store.query(BY_SOURCE, params)}
    result.page_views = sum(result.by_class.values())
    visitors, identified = store.query(VISITORS, params)[0]
    result.visitors, result.identified_visitors = int(visitors), int(identified)
    result.dropped = {str(k): int(n) for _site, k, n in store.query(DROPPED, params)}
    return result
