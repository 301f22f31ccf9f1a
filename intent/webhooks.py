"""Signed webhooks when a company becomes hot, becomes warm or cools.

Scoring calls `enqueue(store, site, scores)` after each run; messages wait in the
`webhook_deliveries` table (so a restart loses nothing) until the `Deliverer` thread sends them,
signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature), retrying with
backoff for about 27 hours. Targets resolving to non-public addresses (loopback, private,
link-local, cloud metadata, ...) are refused unless the webhook sets allow_private; the
connection goes to the address that was checked (no DNS rebinding), redirects are not followed,
time-outs are short. Delivery is at least once: receivers dedupe on webhook-id.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import httpx
import orjson
from standardwebhooks import Webhook

from collector.metrics import Metrics
from collector.settings import Settings
from collector.site_settings import SiteConfig, WebhookConfig
from collector.store import Store, ch_time, utc_now
from intent import timestamps
from intent.accounts.matching import attach_accounts
from intent.poller import Poller
from intent.ssrf_guard import Refused, post_checked
from intent.timestamps import utc_iso
from intent.webhook_news import News, added_at, noticed_at

log = logging.getLogger("intent.webhooks")

EVENT_OF_TRANSITION = {
    "newly_hot": "company.became_hot",
    "newly_warm": "company.became_warm",
    "cooling": "company.cooled",
}
# Seconds to wait before attempt 1, 2, ...: the Standard Webhooks / Svix schedule (~27.5 h).
RETRY_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
TIMEOUT = httpx.Timeout(5.0, connect=3.0)
USER_AGENT = "intent-webhooks/1"
TEST_EVENT = "webhook.test"  # `intent webhooks test`

EXISTING_IDS = "SELECT id FROM webhook_deliveries WHERE id IN {ids:Array(String)}"
DUE = """
    SELECT id, site, url, event, company_key, payload, status, attempts, next_attempt_at,
           last_status, last_error, created_at, updated_at
    FROM webhook_deliveries FINAL
    WHERE status = 'pending' AND next_attempt_at <= {now:DateTime64(3, 'UTC')}
      AND site IN {sites:Array(String)}
    ORDER BY next_attempt_at
    LIMIT 50
"""
MESSAGE = """
    SELECT id, site, url, event, company_key, payload, status, attempts, next_attempt_at,
           last_status, last_error, created_at, updated_at
    FROM webhook_deliveries FINAL
    WHERE id = {id:String}
"""


class Scored(Protocol):
    """What enqueue reads of a score (intent.scoring.CompanyScore has it)."""

    @property
    def day(self) -> date: ...
    @property
    def company_key(self) -> str: ...
    @property
    def company_name(self) -> str: ...
    @property
    def company_domain(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def tier(self) -> str: ...
    @property
    def previous_tier(self) -> str: ...
    @property
    def previous_score(self) -> float: ...
    @property
    def transition(self) -> str: ...
    @property
    def reasons(self) -> Sequence[str]: ...
    @property
    def evidence_event(self) -> str: ...
    @property
    def evidence_path(self) -> str: ...
    @property
    def evidence_at(self) -> datetime: ...


def message_id(site: str, url: str, event: str, company_key: str, day: date) -> str:
    """Deterministic, so rescoring a day never sends the same news twice."""
    raw = "\x00".join((site, url, event, company_key, day.isoformat())).encode()
    return "msg_" + hashlib.sha256(raw).hexdigest()[:26]


def payload(
    site: str, event: str, score: Scored, now: datetime, account: Mapping[str, Any] | None = None
) -> bytes:
    """The message; `account` holds the company's `account`, `fit` and `fit_reasons`
    (intent.accounts.matching.attach_accounts)."""
    data: dict[str, Any] = {
        "site": site,
        "day": score.day.isoformat(),
        "company": {
            "key": score.company_key, "name": score.company_name,
            "domain": score.company_domain, "country": score.country,
            "score": round(float(score.score), 2), "tier": score.tier,
            "previous_tier": score.previous_tier,
            "previous_score": round(float(score.previous_score), 2),
            "transition": score.transition, "reasons": list(score.reasons),
            "account": None, "fit": None, "fit_reasons": [],
        },
    }  # fmt: skip
    if account is not None:
        data["company"].update({k: account[k] for k in ("account", "fit", "fit_reasons")})
    if score.evidence_event:  # the event that had the company re-scored (intent.alerts)
        data["trigger"] = {"event": score.evidence_event, "path": score.evidence_path,
                           "at": utc_iso(score.evidence_at)}  # fmt: skip
    return orjson.dumps({"type": event, "timestamp": utc_iso(now), "data": data})


def enqueue(store: Store, site: SiteConfig, scores: Iterable[Scored]) -> int:
    """Queue a message per (webhook, company whose tier changed) after a scoring run; returns how
    many were new. Call it with the scores `intent.scoring.score_site` returned. A webhook gets
    only news noticed since it was configured: adding one does not replay the day."""
    news: dict[News, Scored] = {}
    for score in scores:
        event = EVENT_OF_TRANSITION.get(score.transition)
        if event is not None:
            news[(score.day, score.company_key, event)] = score
    if not news:
        return 0
    now = utc_now()
    noticed = noticed_at(store, site.name, news, now)  # also while the site has no webhook
    if not site.webhooks:
        return 0
    added = added_at(store, site.name, (h.url for h in site.webhooks), now)
    accounts = {score.company_key: {"company_domain": score.company_domain,
                                    "company_name": score.company_name, "country": score.country}
                for score in news.values()}  # fmt: skip
    attach_accounts(store, site, list(accounts.values()))
    rows: dict[str, dict[str, Any]] = {}
    for (day, key, event), score in news.items():
        for hook in site.webhooks:
            if event in hook.events and added[hook.url] <= noticed[(day, key, event)]:
                mid = message_id(site.name, hook.url, event, key, day)
                rows[mid] = {
                    "id": mid, "site": site.name, "url": hook.url, "event": event,
                    "company_key": key, "payload": payload(site.name, event, score, now, accounts[key]).decode(),
                    "status": "pending", "attempts": 0, "next_attempt_at": ch_time(now),
                    "last_status": 0, "last_error": "", "created_at": ch_time(now), "updated_at": ch_time(now),
                }  # fmt: skip
    return _queue(store, rows)


def enqueue_message(
    store: Store, site: SiteConfig, event: str, company_key: str, data: dict[str, Any], key: str
) -> int:
    """Queue `event` (e.g. company.claimed) to each webhook subscribed to it; `data` is the
    payload's data and `key` names the occurrence (the same key never queues twice)."""
    now = utc_now()
    body = timestamps.dumps({"type": event, "timestamp": utc_iso(now), "data": data}).decode()
    rows: dict[str, dict[str, Any]] = {}
    for hook in site.webhooks:
        if event in hook.events:
            raw = "\x00".join((site.name, hook.url, event, company_key, key)).encode()
            mid = "msg_" + hashlib.sha256(raw).hexdigest()[:26]
            rows[mid] = {
                "id": mid, "site": site.name, "url": hook.url, "event": event,
                "company_key": company_key, "payload": body, "status": "pending", "attempts": 0,
                "next_attempt_at": ch_time(now), "last_status": 0, "last_error": "",
                "created_at": ch_time(now), "updated_at": ch_time(now),
            }  # fmt: skip
    return _queue(store, rows)


def _queue(store: Store, rows: dict[str, dict[str, Any]]) -> int:
    """Insert the messages not queued before; wake the deliverers."""
    if not rows:
        return 0
    known = {r[0] for r in store.query(EXISTING_IDS, {"ids": list(rows)})}
    new = [row for mid, row in rows.items() if mid not in known]
    store.insert_rows("webhook_deliveries", new)
    wake_deliverers()
    return len(new)


def requeue(store: Store, msg_id: str) -> dict[str, Any] | None:
    """Send a message again now, with its id and a fresh retry schedule (`intent webhooks
    redeliver`); the message as it was, or None if there is no such message."""
    rows = store.query_dicts(MESSAGE, {"id": msg_id})
    if not rows:
        return None
    row = rows[0]
    now = utc_now()
    updated = max(now, _naive_utc(row["updated_at"]) + timedelta(milliseconds=1))
    store.insert_rows("webhook_deliveries", [{
        **row, "status": "pending", "attempts": 0, "next_attempt_at": ch_time(now),
        "last_error": "redelivery requested", "created_at": ch_time(row["created_at"]),
        "updated_at": ch_time(updated),
    }])  # fmt: skip
    wake_deliverers()
    return row


def make_test_event(site: str) -> tuple[str, str]:
    """(webhook-id, body) of a `webhook.test` event: signed like every message, no company."""
    body = orjson.dumps({"type": TEST_EVENT, "timestamp": utc_iso(utc_now()),
                         "data": {"site": site, "test": True}})  # fmt: skip
    return "msg_test_" + secrets.token_hex(10), body.decode()


def wake_deliverers() -> None:
    """Deliverer threads of this process look at the queue now instead of at their next poll."""
    for deliverer in list(_running):
        deliverer.wake()


def signer(secret: str) -> Webhook:
    """A `whsec_<base64>` secret is Standard Webhooks' form; any other string is used as bytes."""
    if secret.startswith("whsec_"):
        return Webhook(secret)
    return Webhook(secret.encode("utf-8"))


def send(client: httpx.Client, hook: WebhookConfig, msg_id: str, body: str) -> int:
    """POST one signed message to the checked address; the HTTP status (raises on failure)."""
    now = datetime.now(UTC)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer(hook.secret).sign(msg_id, now, body),
    }
    return post_checked(client, hook.url, hook.allow_private, body.encode(), headers).status_code


_running: set[Deliverer] = set()


class Deliverer(Poller):
    """Background thread sending due messages; started and stopped with the app."""

    def __init__(self, store: Store, settings: Settings, schedule: Sequence[float] = RETRY_SCHEDULE,
                 poll_seconds: float = 2.0, metrics: Metrics | None = None) -> None:  # fmt: skip
        super().__init__("intent-webhooks", poll_seconds, log, "webhook queue")
        self.store = store
        self.metrics = metrics
        self.settings = settings
        self.schedule = tuple(schedule)
        self.client = httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False)

    def start(self) -> None:
        _running.add(self)
        super().start()

    def stop(self, timeout: float = 30.0) -> None:
        _running.discard(self)
        super().stop(timeout)
        self.client.close()

    def poll(self) -> None:
        self.run_once()

    def run_once(self) -> int:
        """Attempt every due message once; returns how many were attempted."""
        sites = [name for name, site in self.settings.sites.items() if site.webhooks]
        if not sites:
            return 0
        due = self.store.query_dicts(DUE, {"now": ch_time(utc_now()), "sites": sites})
        for row in due:
            if self.stopping():
                break
            self.attempt(row)
        return len(due)

    def _hook(self, site: str, url: str) -> WebhookConfig | None:
        config = self.settings.sites.get(site)
        return next((h for h in config.webhooks if h.url == url), None) if config else None

    def attempt(self, row: dict[str, Any]) -> None:
        attempt = int(row["attempts"]) + 1
        started = time.monotonic()
        code, error, status = 0, "", "pending"
        hook = self._hook(row["site"], row["url"])
        if hook is None:
            status, error = "dropped", "webhook no longer configured"
        else:
            try:
                code = send(self.client, hook, row["id"], row["payload"])
                if 200 <= code < 300:
                    status = "delivered"
                elif 300 <= code < 400:
                    error = f"HTTP {code}: redirects are not followed"
                else:
                    error = f"HTTP {code}"
            except Refused as exc:
                status, error = "refused", str(exc)
            except (httpx.HTTPError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
        now = utc_now()
        next_at = now
        if status == "pending":
            if attempt < len(self.schedule):
                next_at = now + timedelta(seconds=self.schedule[attempt])
            else:
                status = "failed"
        updated = max(now, _naive_utc(row["updated_at"]) + timedelta(milliseconds=1))
        self.store.insert_rows("webhook_deliveries", [{
            **row, "status": status, "attempts": attempt, "next_attempt_at": ch_time(next_at),
            "last_status": code, "last_error": error, "created_at": ch_time(row["created_at"]),
            "updated_at": ch_time(updated),
        }])  # fmt: skip
        self.store.insert_rows("webhook_attempts", [{
            "id": row["id"], "site": row["site"], "url": row["url"], "attempt": attempt, "at": ch_time(now),
            "status_code": code, "error": error, "duration_ms": int((time.monotonic() - started) * 1000),
        }])  # fmt: skip
        if self.metrics is not None:
            self.metrics.webhook_attempts.labels(status if status != "pending" else "retry").inc()
        log.info(
            "webhook %s to %s attempt %d: %s %s", row["id"], row["url"], attempt, status, error
        )


def _naive_utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def start(store: Store, settings: Settings, metrics: Metrics | None = None) -> Deliverer | None:
    """The app's delivery thread, if any site has webhooks."""
    if not any(site.webhooks for site in settings.sites.values()):
        return None
    deliverer = Deliverer(store, settings, metrics=metrics)
    deliverer.start()
    return deliverer
