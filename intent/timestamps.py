"""One timestamp format for everything the product sends (the API, the digest's JSON and CSV,
webhooks): RFC 3339 in UTC with milliseconds always, `2026-11-20T09:30:05.000Z`, so a client
parses one shape (orjson alone writes `…:05Z` or `…:38.153000Z` depending on the value)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

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
