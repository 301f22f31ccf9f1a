"""company_scores rows for API and webhook tests, written straight into the real table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from collector.store import Store, ch_time

_clock = [datetime.now(UTC)]


def tick() -> datetime:
    """A changed_at strictly later than any given before (tests write faster than 1 ms)."""
    _clock[0] = max(_clock[0] + timedelta(milliseconds=1), datetime.now(UTC))
    return _clock[0]


def score_row(
    site: str, key: str, score: float = 50.0, tier: str = "warm", **extra: Any
) -> dict[str, Any]:
    now = tick()
    row: dict[str, Any] = {
        "site": site, "day": date.today(), "company_key": key, "company_name": key.split(".")[0].title(),
        "company_domain": key, "country": "DE", "company_source": "maxmind", "confidence": 0.9,
        "score": score, "tier": tier, "previous_tier": "", "previous_score": 0.0, "transition": "",
        "reasons": [f"{key} read pricing"], "visitors": 2, "active_days": 1, "first_seen": now,
        "last_seen": now, "top_pages": ["/pricing"], "is_customer": 0, "changed_at": now,
        "computed_at": now,
    }  # fmt: skip
    row.update(extra)
    for field in ("first_seen", "last_seen", "changed_at", "computed_at"):
        if isinstance(row[field], datetime):
            row[field] = ch_time(row[field])
    return row


def write_scores(store: Store, rows: list[dict[str, Any]]) -> None:
    store.insert_rows("company_scores", rows)
