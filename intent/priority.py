"""The rep's order: what a sales rep should do now comes first. The dashboard's list, each digest
section and the API's `sort=priority` use it (docs/scoring.md):

1. newly hot today (the site's today),
2. then hot, warm, cold,
3. then the freshest buying signal (the site's day of the latest demo_request/demo/pricing, or
   whatever signals the rules mark `buying`; none sorts last),
4. then fit (A, B, C, ?, D as intent.accounts.fit orders it: hot A before hot C), then
   score, then the key.

Fit comes from CRM accounts, attached after rows are read: SQL orders by the rest and a page is
re-sorted by `priority_key`, which reorders companies only within a (newly hot, tier, buying
day) group; the dashboard's and the API's pages hold 100 or more, so a group is rarely split.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from intent.accounts.fit import ORDER as FIT_ORDER

TIER_ORDER = {"hot": 0, "warm": 1, "cold": 2}

# Bound: {today:Date} (the site's), {tz:String} (the site's time zone).
PRIORITY_ORDER = """
    transition = 'newly_hot' AND day = {today:Date} DESC,
    multiIf(tier = 'hot', 0, tier = 'warm', 1, 2),
    toDate(buying_at, {tz:String}) DESC,
    score DESC,
    company_key
"""


def buying_day(buying_at: datetime, tz: str) -> date:
    """The site's day of the latest buying signal (1970-01-01 when there was none)."""
    if buying_at.tzinfo is None:
        buying_at = buying_at.replace(tzinfo=UTC)
    if buying_at.year <= 1970:
        return date(1970, 1, 1)
    return buying_at.astimezone(ZoneInfo(tz)).date()


def priority_key(
    *,
    newly_hot_today: bool,
    tier: str,
    buying_at: datetime,
    score: float,
    fit: str | None,
    key: str,
    tz: str,
) -> tuple[Any, ...]:
    """Sorts ascending into the rep's order."""
    return (
        not newly_hot_today,
        TIER_ORDER.get(tier, 3),
        -buying_day(buying_at, tz).toordinal(),
        FIT_ORDER.get(fit or "?", FIT_ORDER["?"]),
        -score,
        key,
    )


def row_key(row: Mapping[str, Any], today: date, tz: str) -> tuple[Any, ...]:
    """`priority_key` of a company_latest row (the API's and the dashboard's), fit attached."""
    return priority_key(
        newly_hot_today=row["transition"] == "newly_hot" and row["day"] == today,
        tier=row["tier"],
        buying_at=row["buying_at"],
        score=float(row["score"]),
        fit=row.get("fit"),
        key=row["company_key"],
        tz=tz,
    )
