"""One timestamp format for everything the product sends (the API, the digest's JSON and CSV,
webhooks): RFC 3339 in UTC with milliseconds always, `2026-11-20T09:30:05.000Z`, so a client
parses one shape (orjson alone writes `…:05Z` or `…:38.153000Z` depending on the value). What
people read (digest, dashboard) is local to the site, with its zone and how long ago."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson


def utc_iso(t: datetime) -> str:
    """A moment as `YYYY-MM-DDTHH:MM:SS.mmmZ` (a naive datetime is taken as UTC)."""
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any, option: int = 0) -> bytes:
    """orjson.dumps with every datetime in the one format and dates as YYYY-MM-DD."""
    return orjson.dumps(value, default=_default, option=option | orjson.OPT_PASSTHROUGH_DATETIME)


def as_utc(t: datetime) -> datetime:
    """An aware moment (the database hands back naive UTC)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def local_time(t: datetime, tz: str) -> str:
    """A moment as a person at the site reads it, with its zone: `2026-11-23 09:14 CET`."""
    return as_utc(t).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")


def ago(t: datetime, now: datetime) -> str:
    """How long before `now`: `just now`, `12 min ago`, `2 h ago`, `3 days ago`."""
    seconds = (now - as_utc(t)).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    return "1 day ago" if days == 1 else f"{days} days ago"


def last_seen(t: datetime, tz: str, now: datetime) -> str:
    """`2026-11-23 09:14 CET · 2 h ago`: the digest's and the dashboard's "last seen"."""
    return f"{local_time(t, tz)} · {ago(t, now)}"
