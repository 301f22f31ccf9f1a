"""Sending the outbox: a background thread that sends each due alert (pending, past its quiet
hours) by email to the owner and to the site's Slack with the owner @-mentioned.

Each channel's outcome is written as a new version of the row right after its attempt, so a
retry or a restart sends only what has not gone out; a failed channel is retried on
RETRY_SCHEDULE, then marked failed. Email and Slack have no idempotency key: a crash in the
milliseconds between a send and its record sends that one channel again (the email keeps its
Message-ID). One process sends (the holder of `<spool dir>/alerts.lock`), whatever the workers.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from collector.metrics import Metrics
from collector.settings import Settings
from collector.store import Store
from intent.alerts import outbox
from intent.alerts.config import alerts_config
from intent.alerts.message import alert_text, build_email, render_slack
from intent.delivery import Delivery, post_slack, send_email
from intent.poller import Poller
from intent.runner import RunnerLock

log = logging.getLogger("intent.alerts")

# Seconds before attempt 2, 3, ... of a channel that failed; then it is marked failed.
RETRY_SCHEDULE: tuple[float, ...] = (30, 300, 1800, 7200)
POLL_S = 5.0
ESCALATE_EVERY = timedelta(minutes=1)  # on the alert clock


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class AlertSender(Poller):
    """Started and stopped with the server; `wake()` after writing a pending alert."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        box: outbox.Outbox,
        poll_s: float = POLL_S,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__("intent-alerts", poll_s, log, "alerts outbox")
        self.settings = settings
        self.store = store
        self.outbox = box
        self.clock = box.clock
        self.escalated_at: datetime | None = None  # the last escalation check
        self.metrics = metrics
        self.sent = 0
        self._runner = RunnerLock(settings.spool_dir / "alerts.lock")

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)
        self._runner.release()

    def poll(self) -> None:
        if self._runner.held():
            self.run_once()

    def run_once(self) -> int:
        """Send every due alert once; returns how many were attempted."""
        sites = [name for name, site in self.settings.sites.items() if alerts_config(site).enabled]
        if not sites:
            return 0
        now = self.clock.now()
        if self.escalated_at is None or now - self.escalated_at >= ESCALATE_EVERY:
            self.escalated_at = now
            for name in sites:
                outbox.escalate(self.outbox, self.store, self.settings.sites[name])
        due = outbox.due(self.store, sites, now)
        for row in due:
            if self.stopping():
                break
            self.attempt(row)
        return len(due)

    def attempt(self, row: dict[str, Any]) -> dict[str, Any]:
        site = self.settings.sites[row["site"]]
        now = self.clock.now()
        later = outbox.quiet_until(alerts_config(site), site.timezone, now)
        if later > now:  # a retry that fell into the quiet hours waits for their end
            return outbox.save(self.store, row, not_before=later)
        body = orjson.loads(row["body"])
        text = alert_text(row["kind"], body, now, _aware(row["created_at"]))
        errors: list[str] = []
        if row["email_status"] == "pending":
            recipients = outbox.Outbox.recipients(site, row["kind"], body)
            message = build_email(self.settings, row["id"], text, recipients)
            result = send_email(self.settings, message, recipients, attempts=1)
            row = self.record(row, "email_status", result, errors)
        if row["slack_status"] == "pending":
            result = post_slack(site.slack_webhook, render_slack(text), attempts=1,
                                allow_private=site.slack_allow_private)  # fmt: skip
            row = self.record(row, "slack_status", result, errors)
        attempts = int(row["attempts"]) + 1
        statuses = (row["email_status"], row["slack_status"])
        if "pending" in statuses and attempts <= len(RETRY_SCHEDULE):
            retry = now + timedelta(seconds=RETRY_SCHEDULE[attempts - 1])
            return outbox.save(self.store, row, attempts=attempts, next_attempt_at=retry,
                               reason="; ".join(errors))  # fmt: skip
        failed = [s for s in statuses if s in ("pending", "failed")]
        changes: dict[str, Any] = {
            "attempts": attempts,
            "status": "failed"
            if failed and len(failed) == len([s for s in statuses if s])
            else "sent",
            "reason": "; ".join(errors),
            "sent_at": now,
        }
        if row["email_status"] == "pending":
            changes["email_status"] = "failed"
        if row["slack_status"] == "pending":
            changes["slack_status"] = "failed"
        self.sent += 1
        log.info(
            "alert %s (%s %s): %s", row["id"], row["site"], row["company_key"], changes["status"]
        )
        return outbox.save(self.store, row, **changes)

    def record(self, row: dict[str, Any], channel: str, result: Delivery,
               errors: list[str]) -> dict[str, Any]:  # fmt: skip
        """Write the channel's outcome at once, so a restart does not send it again."""
        if self.metrics is not None:
            self.metrics.alert_sends.labels(
                channel.split("_")[0], "sent" if result.ok else "error"
            ).inc()
        if result.ok:
            return outbox.save(self.store, row, **{channel: "sent"})
        errors.append(f"{result.channel}: {result.error}")
        return row


def start(
    settings: Settings, store: Store, box: outbox.Outbox, metrics: Metrics | None = None
) -> AlertSender | None:
    """The server's sender thread, if any site sends alerts (the outbox wakes it)."""
    if not any(alerts_config(s).enabled for s in settings.sites.values()):
        return None
    sender = AlertSender(settings, store, box, metrics=metrics)
    box.wake = sender.wake
    sender.start()
    return sender
