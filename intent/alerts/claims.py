"""Claims: a rep takes a company (dashboard button, or a CRM through the API) and the claim is
kept with the time it answered: response time = claim time - the time the company became hot
(the outbox's became_hot, intent.alerts.outbox). Only the first claim after a company became hot
counts as a response. The claims table is a log (claim, unclaim); a company's state is its
latest entry. Times are on the alert clock (intent.clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from collector.site_settings import SiteConfig
from collector.store import Store, ch_time
from intent import webhooks
from intent.accounts.config import site_config
from intent.accounts.matching import attach_accounts
from intent.alerts.message import ago
from intent.companies import CURRENT_CLAIMS

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_WHO = 200
MAX_NOTE = 2000
MEDIAN_DAYS = 30

CURRENT = CURRENT_CLAIMS  # each company's current claim
CLAIM_OF = f"""
SELECT who, note, claimed_at AS at, response_ms, hot_since FROM ({CURRENT})
WHERE company_key = {{company:String}}
"""  # noqa: S608  joins constants
# The latest time the company became hot, and the owner that alert named.
BECAME_HOT = """
SELECT created_at, body FROM alerts FINAL
WHERE site = {site:String} AND company_key = {company:String} AND kind = 'became_hot'
ORDER BY created_at DESC
LIMIT 1
"""
ANSWERED = """
SELECT count() FROM claims
WHERE site = {site:String} AND company_key = {company:String} AND action = 'claim'
  AND hot_since = {since:DateTime64(3, 'UTC')}
"""
COMPANY = """
SELECT company_key, company_name, company_domain, country, score, tier
FROM company_latest FINAL
WHERE site = {site:String} AND company_key = {company:String}
"""
# Hot companies nobody has claimed, oldest news first, with when they became hot.
UNCLAIMED = f"""
SELECT l.company_key AS company_key, l.company_name AS company_name,
       l.company_domain AS company_domain, l.score AS score, hot.since AS since, hot.body AS body
FROM company_latest AS l FINAL
LEFT JOIN (
    SELECT company_key, max(created_at) AS since, argMax(body, created_at) AS body
    FROM alerts FINAL
    WHERE site = {{site:String}} AND kind = 'became_hot'
    GROUP BY company_key
) AS hot ON hot.company_key = l.company_key
WHERE l.site = {{site:String}} AND l.tier = 'hot' AND l.is_customer = 0
  AND l.day >= {{since:Date}}
  AND l.company_key NOT IN (SELECT company_key FROM ({CURRENT}))
ORDER BY hot.since, l.score DESC
LIMIT 200
"""  # noqa: S608  joins constants
MEDIANS = """
SELECT owner, count() AS claims, quantileExact(0.5)(response_ms) AS median_ms
FROM claims
WHERE site = {site:String} AND action = 'claim' AND response_ms >= 0
  AND at >= {since:DateTime64(3, 'UTC')}
GROUP BY owner
ORDER BY median_ms, owner
"""


class ClaimError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Claim:
    company: str
    who: str
    note: str
    at: datetime
    hot_since: datetime | None  # when the company became hot (None: it never did)
    response_s: float | None  # first claim after becoming hot: at − hot_since

    def json(self) -> dict[str, Any]:
        return {
            "company": self.company,
            "claimed": True,
            "claimed_by": self.who,
            "claimed_at": self.at,
            "note": self.note,
            "hot_since": self.hot_since,
            "response_seconds": None if self.response_s is None else round(self.response_s, 3),
        }


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def parse_body(raw: Any) -> tuple[str, str]:
    """(who, note) of a claim request; ClaimError names a bad field."""
    if not isinstance(raw, dict):
        raise ClaimError("body", 'expected a JSON object: {"who": "Ann Smith", "note": "..."}')
    for key in raw:
        if key not in ("who", "note"):
            raise ClaimError(key, f"unknown field {key!r} (known: note, who)")
    who = raw.get("who")
    if not isinstance(who, str) or not who.strip() or len(who.strip()) > MAX_WHO:
        raise ClaimError("who", f"who is the rep's name or address, 1 to {MAX_WHO} characters")
    note = raw.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise ClaimError("note", f"note is text of at most {MAX_NOTE} characters")
    return " ".join(who.split()), note.strip()


def company(store: Store, site: str, key: str) -> dict[str, Any] | None:
    rows = store.query_dicts(COMPANY, {"site": site, "company": key})
    return rows[0] if rows else None


def current(store: Store, site: str, key: str) -> Claim | None:
    rows = store.query_dicts(CLAIM_OF, {"site": site, "company": key})
    if not rows:
        return None
    r = rows[0]
    since = _aware(r["hot_since"])
    return Claim(key, r["who"], r["note"], _aware(r["at"]), None if since == EPOCH else since,
                 None if r["response_ms"] < 0 else r["response_ms"] / 1000)  # fmt: skip


def claim(store: Store, site: SiteConfig, key: str, who: str, note: str, now: datetime,
          via: str) -> tuple[Claim, bool]:  # fmt: skip
    """Record a claim; (the company's claim, True if this call made it). A company claimed by
    someone else stays theirs (the caller answers 409); the same person claiming again is a
    no-op."""
    held = current(store, site.name, key)
    if held is not None:
        return held, False
    since, owner = EPOCH, ""
    for created, body in store.query(BECAME_HOT, {"site": site.name, "company": key}):
        since, owner = _aware(created), str(orjson.loads(body).get("owner") or "")
    first = since != EPOCH and not store.scalar(ANSWERED, {"site": site.name, "company": key,
                                                          "since": ch_time(since)})  # fmt: skip
    response_ms = int((now - since).total_seconds() * 1000) if first else -1
    store.insert_rows("claims", [{
        "site": site.name, "company_key": key, "at": ch_time(now), "action": "claim", "who": who,
        "note": note, "via": via, "owner": owner, "hot_since": ch_time(since),
        "response_ms": response_ms,
    }])  # fmt: skip
    made = Claim(key, who, note, now, None if since == EPOCH else since,
                 response_ms / 1000 if first else None)  # fmt: skip
    notify(store, site, key, made)
    return made, True


def unclaim(store: Store, site: SiteConfig, key: str, who: str, now: datetime, via: str) -> bool:
    """Release the company's claim; False if it was not claimed."""
    held = current(store, site.name, key)
    if held is None:
        return False
    at = max(now, held.at + timedelta(milliseconds=1))  # after the claim, whatever the clock
    store.insert_rows("claims", [{
        "site": site.name, "company_key": key, "at": ch_time(at), "action": "unclaim",
        "who": who, "note": "", "via": via, "owner": "", "hot_since": ch_time(EPOCH),
        "response_ms": -1,
    }])  # fmt: skip
    return True


def notify(store: Store, site: SiteConfig, key: str, made: Claim) -> None:
    """The `company.claimed` webhook."""
    facts = company(store, site.name, key) or {"company_key": key}
    attach_accounts(store, site, [facts])  # the CRM account, as every company payload has it
    data = {
        "site": site.name,
        "company": {"key": key, "name": facts.get("company_name", ""),
                    "domain": facts.get("company_domain", ""), "country": facts.get("country", ""),
                    "score": round(float(facts.get("score", 0.0)), 2), "tier": facts.get("tier", ""),
                    "account": facts["account"], "fit": facts["fit"], "fit_reasons": facts["fit_reasons"]},
        "claim": made.json(),
    }  # fmt: skip
    webhooks.enqueue_message(store, site, "company.claimed", key, data, made.at.isoformat())


def unclaimed_hot(store: Store, site: str, now: datetime) -> list[dict[str, Any]]:
    """Hot companies nobody has claimed, each with how long it has been hot and its owner."""
    since_day = (now - timedelta(days=1)).date()
    out = []
    for r in store.query_dicts(UNCLAIMED, {"site": site, "since": since_day}):
        hot_since = _aware(r["since"])
        body = orjson.loads(r["body"]) if r["body"] else {}
        out.append({**r, "since": None if hot_since == EPOCH else hot_since,
                    "age_s": None if hot_since == EPOCH else (now - hot_since).total_seconds(),
                    "owner": body.get("owner") or ""})  # fmt: skip
    return out


def medians(store: Store, site: str, now: datetime) -> list[dict[str, Any]]:
    """Each owner's median response time over the last 30 days ('' = unowned companies)."""
    bound = {"site": site, "since": ch_time(now - timedelta(days=MEDIAN_DAYS))}
    return [{"owner": r["owner"], "claims": int(r["claims"]), "median_s": float(r["median_ms"]) / 1000}
            for r in store.query_dicts(MEDIANS, bound)]  # fmt: skip


def page_context(store: Store, site: SiteConfig, key: str, now: datetime) -> dict[str, Any]:
    """What the dashboard's company page shows of the company's claim, and its form offers."""
    held = current(store, site.name, key)
    hot = [h for h in unclaimed_hot(store, site.name, now) if h["company_key"] == key]
    return {
        "claim": held,
        "claim_response": ago(held.response_s) if held and held.response_s is not None else "",
        "hot_for": ago(hot[0]["age_s"]) if hot and hot[0]["age_s"] is not None else "",
        "claim_owner": hot[0]["owner"] if hot else "",
        "owner_names": sorted(o.name for o in site_config(site).owners.by_name.values()),
    }
