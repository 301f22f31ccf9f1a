"""Rows for the real `events` table with a chosen time and company, for scoring tests.

The collector stamps server time and may find no company for a loopback client, so tests that
need history insert rows straight into `events`; the real materialized views fill the rollups.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any


def event(site: str, day: date, company: str, visitor: str, path: str = "/", name: str = "",
          type_: str = "pageview", hour: int = 12, domain: str | None = None) -> dict[str, Any]:  # fmt: skip
    ts = datetime(day.year, day.month, day.day, hour, 0, 0, tzinfo=UTC)
    return {
        "event_id": str(uuid.uuid4()), "site": site, "ts": ts.strftime("%Y-%m-%d %H:%M:%S.000"),
        "type": "event" if name else type_, "name": name, "path": path, "host": "example.com",
        "url": "https://example.com" + path, "visitor_id": visitor, "company_key": company,
        "company_domain": company if domain is None else domain,
        "company_name": company.split(".")[0].title(), "company_source": "ranges",
        "confidence": 0.9, "country": "DE",
    }  # fmt: skip
