"""The alerts outbox: news about a company is written here before anything is sent.

`Outbox.after_scoring` is an after-scoring hook of both runs (incremental and hourly). For each
scored company it finds the news, each with a deterministic id: `became_hot` (and
`became_warm`) once per day, a custom event named in `[sites.S.alerts] on` once per event, an
escalation once per became_hot. Ids already in the table are skipped, so whichever run notices
first writes the news and the other finds it. What a new row will do is decided once, when it is
written: sent to the owner (pending, held until quiet hours end), or recorded only: `off` (the
site sends no such alert), `filtered` (fit below min_fit), `suppressed` (the company was alerted
within repeat_after_hours), `merged` (another piece of news of the same pass carries it).
intent.alerts.sender sends the pending rows.

Versions are real time (`updated_at`) and taken before the ids are checked, so a duplicate
written by a concurrent run is always older than the sender's next version of the row.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from collector.settings import Settings
from collector.site_settings import SiteConfig
from collector.store import Store, ch_time
from intent.accounts.config import site_config
from intent.accounts.matching import attach_accounts
from intent.alerts.config import AlertsConfig, alerts_config
from intent.clock import Clock
from intent.company_links import company_links
from intent.scoring import CompanyScore

log = logging.getLogger("intent.alerts")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Which of a company's news of one pass is sent (the others are merged into it).
KIND_ORDER = ("became_hot", "event", "became_warm", "escalation")
SENT_OR_DUE = ("pending", "sent", "failed")  # an alert someone was (or will be) told

EXISTING = """
SELECT id FROM alerts
WHERE site = {site:String} AND company_key IN {companies:Array(String)} AND id IN {ids:Array(String)}
"""
LAST_TOLD = """
SELECT company_key, max(created_at)
FROM alerts FINAL
WHERE site = {site:String} AND company_key IN {companies:Array(String)}
  AND status IN {told:Array(String)} AND kind != 'escalation'
GROUP BY company_key
"""
COLUMNS = """id, site, company_key, kind, cause, status, reason, body, email_status, slack_status,
    attempts, not_before, next_attempt_at, created_at, sent_at, updated_at"""
DUE = f"""
SELECT {COLUMNS}
FROM alerts FINAL
WHERE status = 'pending' AND not_before <= {{now:DateTime64(3, 'UTC')}}
  AND next_attempt_at <= {{now:DateTime64(3, 'UTC')}} AND site IN {{sites:Array(String)}}
ORDER BY created_at
LIMIT 50
"""  # noqa: S608  joins constants
OF_SITE = f"""
SELECT {COLUMNS}
FROM alerts FINAL
WHERE site = {{site:String}} AND ({{company:String}} = '' OR company_key = {{company:String}})
ORDER BY created_at, id
"""  # noqa: S608  joins constants


# Became-hot news the owner was told of (or that failed) escalate_after_hours ago, for a company
# still hot that nobody has claimed since it became hot. Older than a week: not escalated.
ESCALATIONS_DUE = """
SELECT a.id AS id, a.company_key AS company_key, a.body AS body,
       if(a.status = 'sent', a.sent_at, a.created_at) AS told_at
FROM alerts AS a FINAL
LEFT JOIN (
    SELECT company_key, max(at) AS last_claim FROM claims
    WHERE site = {site:String} AND action = 'claim'
    GROUP BY company_key
) AS c ON c.company_key = a.company_key
WHERE a.site = {site:String} AND a.kind = 'became_hot'
  AND a.status IN ('sent', 'suppressed', 'failed')
  AND told_at <= {cutoff:DateTime64(3, 'UTC')} AND told_at >= {oldest:DateTime64(3, 'UTC')}
  AND c.last_claim < a.created_at
  AND a.company_key IN (
      SELECT company_key FROM company_latest FINAL WHERE site = {site:String} AND tier = 'hot')
"""


def alert_id(site: str, company: str, cause: str) -> str:
    raw = "\x00".join((site, company, cause)).encode()
    return "alrt_" + hashlib.sha256(raw).hexdigest()[:26]


def real_now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def quiet_until(config: AlertsConfig, timezone: str, now: datetime) -> datetime:
    """When email and Slack may go out: `now`, or the end of the quiet hours `now` falls in
    (in the site's time zone; hours such as 20:00-07:00 span midnight)."""
    if config.quiet_hours is None:
        return now
    start, end = config.quiet_hours
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    quiet = start <= t < end if start < end else (t >= start or t < end)
    if not quiet:
        return now
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


def news_of(config: AlertsConfig, score: CompanyScore) -> list[tuple[str, str]]:
    """(kind, cause) of each piece of news in one scored row."""
    if score.is_customer:
        return []
    out = []
    if score.transition == "newly_hot":
        out.append(("became_hot", f"became_hot:{score.day.isoformat()}"))
    if score.transition == "newly_warm" and "became_warm" in config.on:
        out.append(("became_warm", f"became_warm:{score.day.isoformat()}"))
    if score.evidence_event in config.events:
        at = int(score.evidence_at.timestamp() * 1000)
        out.append(("event", f"event:{score.evidence_event}:{at}"))
    return out


class Outbox:
    """Writes the news of each scoring run; wakes the sender."""

    def __init__(
        self, settings: Settings, clock: Clock, wake: Callable[[], None] = lambda: None
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.wake = wake
        self._lock = threading.Lock()  # the two runs of this process check and write in turn

    def after_scoring(self, store: Store, site: SiteConfig, scores: Sequence[CompanyScore]) -> None:
        """The after-scoring hook."""
        news = {c.company_key: (c, n) for c in scores if (n := news_of(alerts_config(site), c))}
        if news:
            with self._lock:
                rows = self.write(store, site, news)
            if any(r["status"] == "pending" for r in rows):
                self.wake()

    def write(
        self,
        store: Store,
        site: SiteConfig,
        news: dict[str, tuple[CompanyScore, list[tuple[str, str]]]],
    ) -> list[dict[str, Any]]:
        version = real_now()
        ids = {
            alert_id(site.name, ck, cause): ck for ck, (_c, n) in news.items() for _k, cause in n
        }
        bound = {"site": site.name, "companies": sorted(news), "ids": sorted(ids)}
        known = {str(r[0]) for r in store.query(EXISTING, bound)}
        fresh = {ck: (c, [(k, cause) for k, cause in n if alert_id(site.name, ck, cause) not in known])
                 for ck, (c, n) in news.items()}  # fmt: skip
        fresh = {ck: v for ck, v in fresh.items() if v[1]}
        if not fresh:
            return []
        config = alerts_config(site)
        now = self.clock.now()
        told = dict(store.query(LAST_TOLD, {"site": site.name, "companies": sorted(fresh),
                                            "told": list(SENT_OR_DUE)}))  # fmt: skip
        facts = self.facts(store, site, [c for c, _n in fresh.values()])
        rows = []
        for ck, (score, items) in fresh.items():
            items.sort(key=lambda item: KIND_ORDER.index(item[0]))
            kind, cause = items[0]
            body = {
                **facts[ck],
                "kinds": [k if k != "event" else score.evidence_event for k, _ in items],
            }
            status, reason = self.decide(config, kind, body, told.get(ck), now)
            primary = alert_id(site.name, ck, cause)
            rows.append(self.row(site, ck, kind, cause, status, reason, body, now, version))
            for other_kind, other_cause in items[1:]:
                merged = "off" if status == "off" else "merged"
                rows.append(
                    self.row(site, ck, other_kind, other_cause, merged, primary, body, now, version)
                )
        store.insert_rows("alerts", rows)
        for r in rows:
            log.info("alert %s %s %s %s: %s %s", r["id"], site.name, r["company_key"], r["cause"],
                     r["status"], r["reason"])  # fmt: skip
        return rows

    def decide(
        self,
        config: AlertsConfig,
        kind: str,
        body: dict[str, Any],
        last_told: datetime | None,
        now: datetime,
    ) -> tuple[str, str]:
        """(status, reason) of a new alert."""
        if not config.enabled or (kind == "became_hot" and "became_hot" not in config.on):
            return "off", "the site sends no such alert"
        if not config.fit_passes(body.get("fit")):
            return "filtered", f"fit {body.get('fit')} below min_fit {config.min_fit}"
        if last_told is not None:
            told = _aware(last_told)
            if now - told < timedelta(hours=config.repeat_after_hours):
                return "suppressed", f"alerted at {told:%Y-%m-%d %H:%M} UTC (repeat_after_hours)"
        return "pending", ""

    def facts(
        self, store: Store, site: SiteConfig, scores: Iterable[CompanyScore]
    ) -> dict[str, dict[str, Any]]:
        """What an alert says of each company, fixed when it is written (the trigger's age is
        worked out when it is sent)."""
        rows: list[dict[str, Any]] = [{"company_key": c.company_key, "company_name": c.company_name,
                 "company_domain": c.company_domain, "country": c.country, "score": c.score,
                 "tier": c.tier, "reasons": list(c.reasons), "day": c.day.isoformat(),
                 "trigger": {"event": c.evidence_event, "path": c.evidence_path,
                             "at": c.evidence_at.isoformat() if c.evidence_event else ""}}
                for c in scores]  # fmt: skip
        attach_accounts(store, site, rows)
        owners = site_config(site).owners
        out = {}
        for r in rows:
            account = r.pop("account")
            owner = owners.resolve(account["owner"]) if account and account["owner"] else None
            r["owner"] = owner.name if owner else (account["owner"] if account else "")
            r["owner_email"] = owner.email if owner else ""
            r["owner_slack"] = owner.slack if owner else ""
            r["stage"] = account["stage"] if account else ""
            links = company_links(site, r["company_key"], r["company_domain"],
                                  r["company_name"], account, self.settings.public_url or None)  # fmt: skip
            r["link"] = links.dashboard
            r["links"] = links.to_dict()
            out[r["company_key"]] = r
        return out

    def row(
        self,
        site: SiteConfig,
        company: str,
        kind: str,
        cause: str,
        status: str,
        reason: str,
        body: dict[str, Any],
        now: datetime,
        version: datetime,
    ) -> dict[str, Any]:
        email, slack = "", ""
        if status == "pending":
            email, slack = self.channels(site, kind, body)
        config = alerts_config(site)
        not_before = quiet_until(config, site.timezone, now) if status == "pending" else now
        return {
            "id": alert_id(site.name, company, cause), "site": site.name, "company_key": company,
            "kind": kind, "cause": cause, "status": status, "reason": reason,
            "body": orjson.dumps(body).decode(), "email_status": email, "slack_status": slack,
            "attempts": 0, "not_before": ch_time(not_before), "next_attempt_at": ch_time(now),
            "created_at": ch_time(now), "sent_at": ch_time(EPOCH), "updated_at": ch_time(version),
        }  # fmt: skip

    def channels(self, site: SiteConfig, kind: str, body: dict[str, Any]) -> tuple[str, str]:
        """Each channel's first status: pending, or '' when it is not used for this alert."""
        config = alerts_config(site)
        email = "pending" if "email" in config.channels and self.recipients(site, kind, body) and self.settings.smtp_host else ""  # fmt: skip
        slack = "pending" if "slack" in config.channels and site.slack_webhook else ""
        return email, slack

    @staticmethod
    def recipients(site: SiteConfig, kind: str, body: dict[str, Any]) -> list[str]:
        """The owner, else (and for an escalation) the site's digest recipients."""
        if kind != "escalation" and body.get("owner_email"):
            return [str(body["owner_email"])]
        return list(site.digest_recipients)


def escalate(outbox: Outbox, store: Store, site: SiteConfig) -> list[dict[str, Any]]:
    """Write an escalation (to the site's recipients) for each hot company nobody claimed within
    escalate_after_hours of its became_hot alert; once each."""
    config = alerts_config(site)
    if not config.enabled or not config.escalate_after_hours:
        return []
    version, now = real_now(), outbox.clock.now()
    cutoff = now - timedelta(hours=config.escalate_after_hours)
    bound = {
        "site": site.name,
        "cutoff": ch_time(cutoff),
        "oldest": ch_time(cutoff - timedelta(days=7)),
    }
    due = {alert_id(site.name, r["company_key"], f"escalation:{r['id']}"): r
           for r in store.query_dicts(ESCALATIONS_DUE, bound)}  # fmt: skip
    if not due:
        return []
    companies = sorted({r["company_key"] for r in due.values()})
    known = {str(r[0]) for r in store.query(EXISTING, {"site": site.name, "companies": companies,
                                                       "ids": sorted(due)})}  # fmt: skip
    rows = []
    for aid, r in due.items():
        if aid in known:
            continue
        body = {**orjson.loads(r["body"]), "hot_since": _aware(r["told_at"]).isoformat()}
        rows.append(outbox.row(site, r["company_key"], "escalation", f"escalation:{r['id']}",
                               "pending", "", body, now, version))  # fmt: skip
    if rows:
        store.insert_rows("alerts", rows)
        log.info("escalating %d unclaimed hot compan%s of %s", len(rows),
                 "y" if len(rows) == 1 else "ies", site.name)  # fmt: skip
    return rows


def due(store: Store, sites: Sequence[str], now: datetime) -> list[dict[str, Any]]:
    return store.query_dicts(DUE, {"now": ch_time(now), "sites": list(sites)})


def of_site(store: Store, site: str, company: str = "") -> list[dict[str, Any]]:
    """Every alert of a site (or of one company), oldest first."""
    return store.query_dicts(OF_SITE, {"site": site, "company": company})


def save(store: Store, row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Write a new version of an alert row; returns it (times as datetimes, like a read)."""
    updated = {**row, **changes}
    previous = _aware(row["updated_at"])
    updated["updated_at"] = max(real_now(), previous + timedelta(milliseconds=1))
    times = ("not_before", "next_attempt_at", "created_at", "sent_at", "updated_at")
    store.insert_rows("alerts", [{**updated, **{k: ch_time(updated[k]) for k in times}}])
    return updated


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def today_of(site: SiteConfig, now: datetime) -> date:
    return now.astimezone(ZoneInfo(site.timezone)).date()
